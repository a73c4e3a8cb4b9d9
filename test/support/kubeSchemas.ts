import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * JSON schemas for `kubeconform`, built here from sources the Go module proxy serves (no schema
 * download at test time): the Kubernetes API's own OpenAPI document (`api/openapi-spec/swagger.json`
 * in the `k8s.io/kubernetes` module) and the Prometheus Operator's CRDs (its module's
 * `example/prometheus-operator-crd/`). Written in kubeconform's layout,
 * `<kind>[-<group>]-<version>.json`, standalone (references inlined) and strict (an unknown field
 * fails, as `kubectl apply --validate=strict` would refuse it).
 */
export const KUBERNETES_MODULE = 'k8s.io/kubernetes@v1.34.4';
export const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator@v0.85.0';

type Schema = Record<string, unknown>;

export function goModuleDir(module: string): string {
  const out = execFileSync('go', ['mod', 'download', '-json', module], {
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=mod' },
  });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${module}: ${info.Error ?? 'no directory'}`);
  return info.Dir;
}

function fileName(kind: string, group: string, version: string): string {
  const g = group === '' ? '' : `-${group.split('.')[0]}`;
  return `${kind.toLowerCase()}${g}-${version}.json`;
}

/** Object schemas refuse unknown fields unless Kubernetes itself keeps them (`x-kubernetes-preserve-unknown-fields`) or they are maps. */
function strict(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields'])
    out.additionalProperties = false;
  for (const key of ['properties', 'patternProperties'] as const) {
    const props = out[key] as Record<string, Schema> | undefined;
    if (props) out[key] = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, strict(v)]));
  }
  for (const key of ['items', 'additionalProperties', 'not'] as const) {
    const v = out[key];
    if (v && typeof v === 'object' && !Array.isArray(v)) out[key] = strict(v as Schema);
  }
  for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
    const v = out[key] as Schema[] | undefined;
    if (Array.isArray(v)) out[key] = v.map(strict);
  }
  return out;
}

/** Inline `$ref`s of the Kubernetes document; a type that contains itself (rare: JSONSchemaProps) stops at any object. */
function inline(schema: Schema, defs: Record<string, Schema>, seen: readonly string[]): Schema {
  const ref = schema.$ref as string | undefined;
  if (ref) {
    const name = ref.replace('#/definitions/', '');
    if (seen.includes(name)) return {};
    const target = defs[name];
    if (!target) throw new Error(`unresolved reference ${ref}`);
    return inline(target, defs, [...seen, name]);
  }
  // The document types these two as strings with a format; YAML gives numbers for both.
  if (schema.format === 'int-or-string') return { anyOf: [{ type: 'string' }, { type: 'integer' }] };
  const out: Schema = { ...schema };
  delete out.description;
  if (out.properties) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Record<string, Schema>).map(([k, v]) => [k, inline(v, defs, seen)]),
    );
  }
  if (out.items && typeof out.items === 'object') out.items = inline(out.items as Schema, defs, seen);
  if (out.additionalProperties && typeof out.additionalProperties === 'object')
    out.additionalProperties = inline(out.additionalProperties as Schema, defs, seen);
  return out;
}

function kubernetesSchemas(dir: string, write: (file: string, schema: Schema) => void): void {
  const swagger = JSON.parse(readFileSync(join(dir, 'api/openapi-spec/swagger.json'), 'utf8')) as {
    definitions: Record<string, Schema>;
  };
  const defs = { ...swagger.definitions };
  defs['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { anyOf: [{ type: 'string' }, { type: 'number' }] };
  for (const [name, def] of Object.entries(defs)) {
    const gvks = def['x-kubernetes-group-version-kind'] as
      { group: string; version: string; kind: string }[] | undefined;
    if (!gvks) continue;
    const schema = strict(inline(def, defs, [name]));
    for (const gvk of gvks) write(fileName(gvk.kind, gvk.group, gvk.version), schema);
  }
}

function crdSchemas(dir: string, write: (file: string, schema: Schema) => void): void {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as {
        kind?: string;
        spec?: {
          group: string;
          names: { kind: string };
          versions: { name: string; schema?: { openAPIV3Schema: Schema } }[];
        };
      } | null;
      if (crd?.kind !== 'CustomResourceDefinition' || !crd.spec) continue;
      for (const v of crd.spec.versions) {
        if (v.schema) write(fileName(crd.spec.names.kind, crd.spec.group, v.name), strict(v.schema.openAPIV3Schema));
      }
    }
  }
}

/** Builds the schemas once into `into` (a cache directory) and returns kubeconform's `-schema-location` for them. */
export function kubeconformSchemaLocation(into: string): string {
  const stamp = join(
    into,
    `.built-${KUBERNETES_MODULE.replace(/[^\w.]/g, '_')}-${PROMETHEUS_OPERATOR_MODULE.replace(/[^\w.]/g, '_')}`,
  );
  if (!existsSync(stamp)) {
    mkdirSync(into, { recursive: true });
    const write = (file: string, schema: Schema) =>
      writeFileSync(
        join(into, file),
        JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema }),
      );
    kubernetesSchemas(goModuleDir(KUBERNETES_MODULE), write);
    crdSchemas(join(goModuleDir(PROMETHEUS_OPERATOR_MODULE), 'example/prometheus-operator-crd'), write);
    writeFileSync(stamp, '');
  }
  return `${into}/{{ .ResourceKind }}{{ .KindSuffix }}.json`;
}
