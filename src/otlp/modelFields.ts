import type { Attributes } from '../model/attributes.ts';

/** `service.name` of a resource, the model's `service`. */
export function serviceOf(resource: Attributes): string {
  const s = resource['service.name'];
  return typeof s === 'string' ? s : '';
}

/** What an OTLP record is about, by the resource conventions most SDKs and collectors fill. */
export function assetOf(resource: Attributes): string {
  for (const key of ASSET_KEYS) {
    const v = resource[key];
    if (typeof v === 'string' && v !== '') return v;
  }
  return '';
}

const ASSET_KEYS = ['host.name', 'k8s.pod.name', 'container.name', 'service.instance.id'] as const;
