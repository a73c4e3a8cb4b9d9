import { readFileSync } from 'node:fs';
import type { ConfigIssue } from './schema.ts';

const REF = /\$\{(env|file):([^}:]+)(?::-([^}]*))?\}|\$\$/g;

/**
 * Expands `${env:NAME}`, `${env:NAME:-default}` and `${file:PATH}` in every string value,
 * as the OTel Collector does. `$$` is a literal `$`. Expansion happens on parsed YAML values,
 * not on the file text, so an expanded secret can never change the document's structure.
 * A value that is exactly one reference to a number or boolean keeps that type. Mapping keys
 * expand too (a bearer token read from a file is a key), but error paths keep the key as
 * written, so a secret never reaches a message.
 */
export function expandRefs(
  value: unknown,
  path: string,
  issues: ConfigIssue[],
  env: NodeJS.ProcessEnv = process.env,
  renamed?: Map<string, string>,
): unknown {
  if (typeof value === 'string') return expandString(value, path, issues, env);
  if (Array.isArray(value)) return value.map((v, i) => expandRefs(v, `${path}[${i}]`, issues, env, renamed));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const at = path ? `${path}.${k}` : k;
      const key = k.includes('$') ? String(expandString(k, at, issues, env)) : k;
      if (key !== k) {
        if (Object.hasOwn(out, key)) issues.push({ path: at, message: 'expands to a key that is already present' });
        renamed?.set(path ? `${path}.${key}` : key, at);
      }
      out[key] = expandRefs(v, at, issues, env, renamed);
    }
    return out;
  }
  return value;
}

function expandString(text: string, path: string, issues: ConfigIssue[], env: NodeJS.ProcessEnv): unknown {
  if (!text.includes('$')) return text;
  let whole = false;
  const out = text.replace(
    REF,
    (match, kind: string | undefined, name: string | undefined, fallback: string | undefined, offset: number) => {
      if (match === '$$') return '$';
      whole = offset === 0 && match.length === text.length;
      if (kind === 'env') {
        const v = env[name!];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        issues.push({
          path,
          message: `environment variable ${name} is not set (use \${env:${name}:-default} for a default)`,
        });
        return '';
      }
      try {
        return readFileSync(name!, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        issues.push({ path, message: `cannot read file ${name}: ${(err as Error).message}` });
        return '';
      }
    },
  );
  if (whole) {
    if (/^-?\d+(\.\d+)?$/.test(out)) return Number(out);
    if (out === 'true' || out === 'false') return out === 'true';
  }
  return out;
}

/** Puts back the key as written wherever an issue path runs through an expanded key. */
export function unexpandPath(path: string, renamed: ReadonlyMap<string, string>): string {
  for (const [expanded, written] of renamed) {
    if (path === expanded || path.startsWith(`${expanded}.`) || path.startsWith(`${expanded}[`))
      return written + path.slice(expanded.length);
  }
  return path;
}
