import { str, type Schema } from '../config/schema.ts';
import { compileCondition, compilePath, compileValue } from './compiler.ts';
import { OttlError } from './errors.ts';
import { compileTemplate } from './template.ts';
import type { OttlContext } from './paths.ts';

type Check = (source: string) => void;

function ottlString(
  what: string,
  check: Check,
  opts: { doc?: string; default?: string; allowEmpty?: boolean },
): Schema<string> {
  const inner = str({ doc: opts.doc, default: opts.default, nonEmpty: !opts.allowEmpty });
  return {
    ...inner,
    typeName: what,
    parse(value, path, issues) {
      const before = issues.length;
      const s = inner.parse(value, path, issues);
      if (s === undefined || issues.length > before) return s;
      try {
        check(s);
      } catch (err) {
        if (!(err instanceof OttlError)) throw err;
        issues.push({ path, message: err.message });
        return undefined;
      }
      return s;
    },
    describe: () => ({ ...inner.describe(), type: what }),
  };
}

/**
 * An OTTL condition in config: compiled while the config loads, so a typo is reported as
 * `processors.filter.logs[1]: column 14: ...` before anything starts.
 */
export function ottlCondition(context: OttlContext, opts: { doc?: string; default?: string } = {}): Schema<string> {
  return ottlString('OTTL condition', (s) => compileCondition(s, context), opts);
}

/** An OTTL path in config; `writable` also requires that it can be set. */
export function ottlPath(
  context: OttlContext,
  opts: { doc?: string; default?: string; writable?: boolean } = {},
): Schema<string> {
  return ottlString(
    'OTTL path',
    (s) => {
      const p = compilePath(s, context);
      if (opts.writable && !p.set)
        throw new OttlError(s, 1, `${s} is read-only; writable paths are marked ✎ in docs/ottl.md`);
    },
    opts,
  );
}

/** An OTTL value expression in config: a path, a literal or a converter call. */
export function ottlValue(context: OttlContext, opts: { doc?: string; default?: string } = {}): Schema<string> {
  return ottlString('OTTL value', (s) => compileValue(s, context), opts);
}

/** A template (`"{{ attributes.host }} down"`, see docs/ottl.md); plain text is a template too. */
export function ottlTemplate(context: OttlContext, opts: { doc?: string; default?: string } = {}): Schema<string> {
  return ottlString('template', (s) => compileTemplate(s, context), { ...opts, allowEmpty: true });
}
