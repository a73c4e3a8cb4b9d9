import { jsonReplacer, needsReplacer } from './attributes.ts';
import type { VigilEvent } from './event.ts';

function value(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  return needsReplacer(v) ? JSON.stringify(v, jsonReplacer) : JSON.stringify(v);
}

/**
 * An event as one JSON line, fields in model order, ns times as decimal strings. Written out by
 * hand because it is the hottest serialisation in Vigil: building a bigint-free copy for
 * JSON.stringify cost more than the stringify itself (bench/json.ts profile).
 */
export function eventToJson(e: VigilEvent): string {
  return (
    '{"id":' +
    JSON.stringify(e.id) +
    ',"timeUnixNano":"' +
    e.timeUnixNano.toString() +
    '","observedTimeUnixNano":"' +
    e.observedTimeUnixNano.toString() +
    '","severityNumber":' +
    e.severityNumber +
    ',"severityText":' +
    JSON.stringify(e.severityText) +
    ',"body":' +
    value(e.body) +
    ',"attributes":' +
    value(e.attributes) +
    ',"resource":' +
    value(e.resource) +
    (e.scope === undefined ? '' : ',"scope":' + value(e.scope)) +
    ',"traceId":' +
    JSON.stringify(e.traceId) +
    ',"spanId":' +
    JSON.stringify(e.spanId) +
    ',"flags":' +
    e.flags +
    ',"asset":' +
    JSON.stringify(e.asset) +
    ',"title":' +
    JSON.stringify(e.title) +
    ',"type":' +
    JSON.stringify(e.type) +
    ',"service":' +
    JSON.stringify(e.service) +
    ',"tenant":' +
    JSON.stringify(e.tenant) +
    ',"fingerprint":' +
    JSON.stringify(e.fingerprint) +
    ',"source":' +
    JSON.stringify(e.source) +
    '}'
  );
}
