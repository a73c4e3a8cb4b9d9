/**
 * A small, typed config schema: one definition validates raw YAML into typed objects with
 * defaults, reports every error with its YAML path, and generates the reference docs.
 * Hand-written rather than a JSON-Schema library so the inferred TypeScript types, the error
 * wording and the generated README reference all come from the same place.
 */

export interface ConfigIssue {
  path: string;
  message: string;
}

export interface FieldDoc {
  type: string;
  doc?: string;
  default?: unknown;
  required: boolean;
  fields?: Record<string, FieldDoc>;
  items?: FieldDoc;
  values?: FieldDoc;
  /** What is checked beyond each key's own type: one sentence per refinement. */
  rules?: string[];
}

export interface Schema<T> {
  readonly typeName: string;
  readonly doc?: string;
  readonly hasDefault: boolean;
  readonly defaultValue?: T;
  readonly isOptional: boolean;
  parse(value: unknown, path: string, issues: ConfigIssue[]): T | undefined;
  describe(): FieldDoc;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

interface BaseOpts<T> {
  doc?: string;
  default?: T;
}

function fail(issues: ConfigIssue[], path: string, message: string): undefined {
  issues.push({ path: path || '(root)', message });
  return undefined;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** A string as written (quoted), anything else described. */
function quoted(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : describeValue(v);
}

function scalar<T>(
  typeName: string,
  opts: BaseOpts<T>,
  check: (v: unknown, path: string, issues: ConfigIssue[]) => T | undefined,
  extraDoc?: string,
): Schema<T> {
  return {
    typeName,
    doc: [opts.doc, extraDoc].filter(Boolean).join(' ') || undefined,
    hasDefault: opts.default !== undefined,
    defaultValue: opts.default,
    isOptional: false,
    parse(value, path, issues) {
      if (value === undefined || value === null) {
        if (opts.default !== undefined) return structuredClone(opts.default);
        return fail(issues, path, 'is required');
      }
      return check(value, path, issues);
    },
    describe() {
      return { type: typeName, doc: this.doc, default: opts.default, required: opts.default === undefined };
    },
  };
}

export function str(
  opts: BaseOpts<string> & {
    enum?: readonly string[];
    pattern?: RegExp;
    patternHint?: string;
    nonEmpty?: boolean;
  } = {},
): Schema<string> {
  const typeName = opts.enum ? opts.enum.map((e) => JSON.stringify(e)).join(' | ') : 'string';
  return scalar(typeName, opts, (v, path, issues) => {
    if (typeof v === 'number' || typeof v === 'boolean') v = String(v);
    if (typeof v !== 'string') return fail(issues, path, `must be a string, got ${describeValue(v)}`);
    if (opts.enum && !opts.enum.includes(v))
      return fail(issues, path, `must be one of ${opts.enum.join(', ')}; got ${JSON.stringify(v)}`);
    if (opts.nonEmpty && v.length === 0) return fail(issues, path, 'must not be empty');
    if (opts.pattern && !opts.pattern.test(v))
      return fail(
        issues,
        path,
        `must be ${opts.patternHint ?? `a string matching ${opts.pattern}`}; got ${JSON.stringify(v)}`,
      );
    return v;
  });
}

export function literalUnion<const T extends readonly string[]>(
  values: T,
  opts: BaseOpts<T[number]> = {},
): Schema<T[number]> {
  return str({ ...opts, enum: values }) as Schema<T[number]>;
}

export function int(opts: BaseOpts<number> & { min?: number; max?: number } = {}): Schema<number> {
  const range = rangeDoc(opts.min, opts.max);
  return scalar(
    'integer',
    opts,
    (v, path, issues) => {
      const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n))
        return fail(issues, path, `must be an integer, got ${describeValue(v)}`);
      return checkRange(n, opts.min, opts.max, path, issues);
    },
    range,
  );
}

export function num(opts: BaseOpts<number> & { min?: number; max?: number } = {}): Schema<number> {
  const range = rangeDoc(opts.min, opts.max);
  return scalar(
    'number',
    opts,
    (v, path, issues) => {
      const n = typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n))
        return fail(issues, path, `must be a number, got ${describeValue(v)}`);
      return checkRange(n, opts.min, opts.max, path, issues);
    },
    range,
  );
}

function rangeDoc(min?: number, max?: number): string | undefined {
  if (min !== undefined && max !== undefined) return `Range ${min}–${max}.`;
  if (min !== undefined) return `At least ${min}.`;
  if (max !== undefined) return `At most ${max}.`;
  return undefined;
}

function checkRange(
  n: number,
  min: number | undefined,
  max: number | undefined,
  path: string,
  issues: ConfigIssue[],
): number | undefined {
  if (min !== undefined && n < min) return fail(issues, path, `must be at least ${min}, got ${n}`);
  if (max !== undefined && n > max) return fail(issues, path, `must be at most ${max}, got ${n}`);
  return n;
}

export function bool(opts: BaseOpts<boolean> = {}): Schema<boolean> {
  return scalar('boolean', opts, (v, path, issues) => {
    if (v === 'true') return true;
    if (v === 'false') return false;
    if (typeof v !== 'boolean') return fail(issues, path, `must be true or false, got ${describeValue(v)}`);
    return v;
  });
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "250ms", "10s", "1m30s", "2h" into milliseconds. */
export function parseDuration(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && text.length > 0 ? total : undefined;
}

/** A duration: "250ms", "10s", "5m", "1h"; a bare number means milliseconds. Parsed to ms. */
export function duration(
  opts: BaseOpts<string | number> & {
    unit?: 'required';
    positive?: boolean;
    /** Bounds, as durations (`'1s'`) or milliseconds; both ends included. */
    min?: string | number;
    max?: string | number;
  } = {},
): Schema<number> {
  const ms = (v: string | number | undefined) => (typeof v === 'string' ? parseDuration(v) : v);
  const def = ms(opts.default);
  const [min, max] = [ms(opts.min), ms(opts.max)];
  const bounds = [
    opts.min === undefined ? '' : `at least ${String(opts.min)}`,
    opts.max === undefined ? '' : `at most ${String(opts.max)}`,
  ]
    .filter(Boolean)
    .join(' and ');
  const s = scalar<number>(
    'duration',
    { doc: opts.doc, default: def },
    (v, path, issues) => {
      const bare = typeof v === 'number' || (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()));
      if (bare && opts.unit === 'required')
        return fail(
          issues,
          path,
          `${String(v).trim()} has no unit; write ${String(v).trim()}s or ${String(v).trim()}ms`,
        );
      let value: number | undefined;
      if (typeof v === 'number' && v >= 0) value = v;
      else if (typeof v === 'string') value = parseDuration(v.trim());
      if (value !== undefined) {
        if (opts.positive && value === 0) return fail(issues, path, 'must be longer than 0s');
        if ((min !== undefined && value < min) || (max !== undefined && value > max))
          return fail(issues, path, `must be ${bounds}, got ${String(v)}`);
        return value;
      }
      return fail(issues, path, `must be a duration such as "500ms", "10s", "5m" or "1h", got ${describeValue(v)}`);
    },
    bounds ? `Must be ${bounds}.` : undefined,
  );
  return {
    ...s,
    describe: () => ({ type: 'duration', doc: s.doc, default: opts.default, required: def === undefined }),
  };
}

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

export function parseBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?$/i.exec(text.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * BYTE_UNITS[(m[2] ?? 'b').toLowerCase()]!);
}

/** A size: 4194304, "4MiB", "512KiB", "1GB". Parsed to bytes. */
export function bytes(opts: BaseOpts<string | number> & { min?: number } = {}): Schema<number> {
  const def =
    opts.default === undefined ? undefined : typeof opts.default === 'number' ? opts.default : parseBytes(opts.default);
  const s = scalar<number>('size', { doc: opts.doc, default: def }, (v, path, issues) => {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseBytes(v) : undefined;
    if (n === undefined || !Number.isFinite(n) || n < 0)
      return fail(issues, path, `must be a size such as 4194304, "512KiB" or "20MiB", got ${describeValue(v)}`);
    if (opts.min !== undefined && n < opts.min) return fail(issues, path, `must be at least ${opts.min} bytes`);
    return n;
  });
  return { ...s, describe: () => ({ type: 'size', doc: s.doc, default: opts.default, required: def === undefined }) };
}

export interface Endpoint {
  host: string;
  port: number;
}

/** host:port, [v6]:port or :port (all interfaces). */
export function parseEndpoint(text: string): Endpoint | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function endpoint(opts: BaseOpts<string> = {}): Schema<Endpoint> {
  const def = opts.default === undefined ? undefined : parseEndpoint(opts.default);
  const s = scalar<Endpoint>('host:port', { doc: opts.doc, default: def }, (v, path, issues) => {
    const e = typeof v === 'string' ? parseEndpoint(v) : undefined;
    if (!e)
      return fail(
        issues,
        path,
        `must be host:port such as "127.0.0.1:4318" or "0.0.0.0:4318", got ${describeValue(v)}`,
      );
    return e;
  });
  return {
    ...s,
    describe: () => ({ type: 'host:port', doc: s.doc, default: opts.default, required: def === undefined }),
  };
}

export function url(opts: BaseOpts<string> & { protocols?: readonly string[] } = {}): Schema<string> {
  const protocols = opts.protocols ?? ['http:', 'https:'];
  return scalar('URL', opts, (v, path, issues) => {
    if (typeof v !== 'string') return fail(issues, path, `must be a URL, got ${describeValue(v)}`);
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      return fail(issues, path, `must be a URL, got ${JSON.stringify(v)}`);
    }
    if (!protocols.includes(u.protocol))
      return fail(
        issues,
        path,
        `must be a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL, got ${JSON.stringify(v)}`,
      );
    return v;
  });
}

/** Anything; validated by the component that owns it. */
/** Whether the runtime knows an IANA time zone name (`Europe/Paris`, `UTC`). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** An IANA time zone name; with `local`, also `Local` for the host's zone. */
export function timeZone(opts: BaseOpts<string> & { local?: boolean } = {}): Schema<string> {
  const hint = opts.local ? 'Local, UTC or an IANA name such as Europe/Paris' : 'an IANA name such as Europe/Paris';
  return scalar<string>('time zone', opts, (v, path, issues) => {
    if (typeof v === 'string' && ((opts.local && v === 'Local') || isTimeZone(v))) return v;
    return fail(issues, path, `unknown time zone ${quoted(v)}; use ${hint}`);
  });
}

/** An RFC 3339 time with its offset (`2026-11-23T02:00:00Z`), kept as written. */
export function timestamp(opts: BaseOpts<string> = {}): Schema<string> {
  const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
  return scalar<string>('timestamp', opts, (v, path, issues) => {
    // YAML reads an unquoted time as a Date.
    const text = v instanceof Date ? v.toISOString() : v;
    if (typeof text === 'string' && RFC3339.test(text) && !Number.isNaN(Date.parse(text))) return text;
    return fail(issues, path, `must be an RFC 3339 time such as "2026-11-23T02:00:00Z", got ${quoted(v)}`);
  });
}

export function any<T = unknown>(opts: BaseOpts<T> = {}): Schema<T> {
  return scalar<T>('any', opts, (v) => v as T);
}

export function optional<T>(inner: Schema<T>): Schema<T | undefined> {
  return {
    typeName: inner.typeName,
    doc: inner.doc,
    hasDefault: false,
    isOptional: true,
    parse(value, path, issues) {
      if (value === undefined || value === null) return undefined;
      return inner.parse(value, path, issues);
    },
    describe() {
      return { ...inner.describe(), required: false };
    },
  };
}

export function list<T>(item: Schema<T>, opts: BaseOpts<T[]> & { minItems?: number } = {}): Schema<T[]> {
  return {
    typeName: `list of ${item.typeName}`,
    doc: opts.doc,
    hasDefault: opts.default !== undefined,
    defaultValue: opts.default,
    isOptional: false,
    parse(value, path, issues) {
      if (value === undefined || value === null) {
        if (opts.default !== undefined) return structuredClone(opts.default);
        return fail(issues, path, 'is required');
      }
      if (!Array.isArray(value)) return fail(issues, path, `must be a list, got ${describeValue(value)}`);
      if (opts.minItems !== undefined && value.length < opts.minItems)
        return fail(issues, path, `must have at least ${opts.minItems} item(s)`);
      const out: T[] = [];
      let ok = true;
      value.forEach((v, i) => {
        const before = issues.length;
        const parsed = item.parse(v, `${path}[${i}]`, issues);
        if (issues.length > before) ok = false;
        else out.push(parsed as T);
      });
      return ok ? out : undefined;
    },
    describe() {
      return {
        type: this.typeName,
        doc: opts.doc,
        default: opts.default,
        required: opts.default === undefined,
        items: item.describe(),
      };
    },
  };
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends Schema<infer T> ? (undefined extends T ? K : never) : never;
}[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
export type InferShape<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & {
  [K in OptionalKeys<S>]?: Infer<S[K]>;
};

export interface ObjectSchema<S extends Shape> extends Schema<InferShape<S>> {
  readonly shape: S;
}

/**
 * A mapping with known keys. Unknown keys are errors that name the key, so a typo never
 * silently falls back to a default. An object whose fields all have defaults may be omitted.
 */
export function obj<S extends Shape>(shape: S, opts: { doc?: string; optional?: boolean } = {}): ObjectSchema<S> {
  const allDefaulted = Object.values(shape).every((f) => f.hasDefault || f.isOptional);
  return {
    typeName: 'mapping',
    shape,
    doc: opts.doc,
    hasDefault: allDefaulted,
    isOptional: false,
    parse(value, path, issues) {
      if (value === undefined || value === null) {
        if (!allDefaulted) return fail(issues, path, 'is required');
        value = {};
      }
      if (typeof value !== 'object' || Array.isArray(value))
        return fail(issues, path, `must be a mapping, got ${describeValue(value)}`);
      const input = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      const before = issues.length;
      for (const key of Object.keys(input)) {
        if (!(key in shape))
          fail(issues, join(path, key), `unknown key; allowed keys here: ${Object.keys(shape).join(', ')}`);
      }
      for (const [key, field] of Object.entries(shape)) {
        const parsed = field.parse(input[key], join(path, key), issues);
        if (parsed !== undefined) out[key] = parsed;
      }
      return issues.length > before ? undefined : (out as InferShape<S>);
    },
    describe() {
      const fields: Record<string, FieldDoc> = {};
      for (const [k, f] of Object.entries(shape)) fields[k] = f.describe();
      return { type: 'mapping', doc: opts.doc, required: !allDefaulted, fields };
    },
  };
}

/** A mapping from free names to values of one schema (e.g. named rules, lookup tables). */
export function record<T>(
  values: Schema<T>,
  opts: BaseOpts<Record<string, T>> & { keyPattern?: RegExp } = {},
): Schema<Record<string, T>> {
  return {
    typeName: `mapping of name → ${values.typeName}`,
    doc: opts.doc,
    hasDefault: true,
    defaultValue: opts.default ?? {},
    isOptional: false,
    parse(value, path, issues) {
      if (value === undefined || value === null) return structuredClone(opts.default ?? {});
      if (typeof value !== 'object' || Array.isArray(value))
        return fail(issues, path, `must be a mapping, got ${describeValue(value)}`);
      const out: Record<string, T> = {};
      const before = issues.length;
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (opts.keyPattern && !opts.keyPattern.test(k)) {
          fail(issues, join(path, k), `is not a valid name (must match ${opts.keyPattern})`);
          continue;
        }
        const parsed = values.parse(v, join(path, k), issues);
        if (parsed !== undefined) out[k] = parsed;
      }
      return issues.length > before ? undefined : out;
    },
    describe() {
      return { type: this.typeName, doc: opts.doc, required: false, values: values.describe() };
    },
  };
}

/** A schema whose shape depends on a discriminating key, e.g. correlation rule `kind`. */
export function tagged<T>(tagKey: string, variants: Record<string, Schema<T>>, opts: { doc?: string } = {}): Schema<T> {
  return {
    typeName: `one of ${Object.keys(variants).join(', ')} (by ${tagKey})`,
    doc: opts.doc,
    hasDefault: false,
    isOptional: false,
    parse(value, path, issues) {
      if (value === undefined || value === null) return fail(issues, path, 'is required');
      if (typeof value !== 'object' || Array.isArray(value))
        return fail(issues, path, `must be a mapping, got ${describeValue(value)}`);
      const tag = (value as Record<string, unknown>)[tagKey];
      const variant = typeof tag === 'string' ? variants[tag] : undefined;
      if (!variant)
        return fail(
          issues,
          join(path, tagKey),
          `must be one of ${Object.keys(variants).join(', ')}; got ${describeValue(tag)}`,
        );
      return variant.parse(value, path, issues);
    },
    describe() {
      const fields: Record<string, FieldDoc> = {};
      for (const [k, v] of Object.entries(variants)) fields[`${tagKey}: ${k}`] = v.describe();
      return { type: this.typeName, doc: opts.doc, required: true, fields };
    },
  };
}

/** Adds a cross-field check after the inner schema parsed cleanly. */
/**
 * Checks across keys that no single key's type can say. `rule` says in one sentence what is
 * checked; the generated reference lists it with the section, so docs and validation agree.
 */
export function refine<T>(
  inner: Schema<T>,
  check: (value: T) => ConfigIssue | ConfigIssue[] | undefined,
  rule: string,
): Schema<T> {
  return {
    ...inner,
    parse(value, path, issues) {
      const before = issues.length;
      const parsed = inner.parse(value, path, issues);
      if (parsed === undefined || issues.length > before) return parsed;
      const found = check(parsed);
      const list = found === undefined ? [] : Array.isArray(found) ? found : [found];
      for (const i of list) issues.push({ path: join(path, i.path), message: i.message });
      return list.length ? undefined : parsed;
    },
    describe: () => {
      const d = inner.describe();
      return { ...d, rules: [...(d.rules ?? []), rule] };
    },
  };
}

export function join(path: string, key: string): string {
  if (!path) return key;
  if (key === '') return path;
  return key.startsWith('[') ? `${path}${key}` : `${path}.${key}`;
}
