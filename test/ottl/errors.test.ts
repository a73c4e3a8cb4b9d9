import { describe, expect, it } from 'vitest';
import { VigilError } from '../../src/errors.ts';
import { compileCondition, compilePath, OttlError } from '../../src/ottl/index.ts';

function compileError(source: string, context: 'event' | 'datapoint' | 'span' = 'event'): OttlError {
  try {
    compileCondition(source, context);
  } catch (err) {
    expect(err).toBeInstanceOf(OttlError);
    expect(err).toBeInstanceOf(VigilError);
    return err as OttlError;
  }
  throw new Error(`expected "${source}" not to compile`);
}

describe('compile errors point at the column at fault', () => {
  it.each([
    ['asset = "x"', 7, 'expected "==" for equality'],
    ["asset == 'x'", 10, 'double-quoted string'],
    ['asset == "x" && type == "down"', 14, 'expected "and", "or" or "not" instead of "&"'],
    ['asset == "x', 10, 'expected a closing " for this string'],
    ['(asset == "x"', 14, 'expected ")" to close the "(" at column 1, found end of input'],
    ['asset == "x")', 13, 'found ")" without a matching "("'],
    ['asset == "x" asset', 14, 'expected "and", "or" or the end of the condition, found "asset"'],
    ['', 1, 'expected a condition, found an empty string'],
    ['hostname == "x"', 1, 'unknown path "hostname"; paths in the event context: body, attributes["key"]'],
    ['resource["host.name"] == "x"', 1, 'resource attributes are resource.attributes["key"]'],
    ['attributes.host == "x"', 1, 'an attribute whose key has dots is attributes["host"]'],
    ['severity >= 17', 1, 'use severity_number (1–24) or severity_text'],
    ['IsMatch(body, "(")', 15, 'invalid regular expression'],
    ['IsMatch(body, attributes["re"])', 15, 'expected the regular expression as a string literal'],
    ['IsMatch(body)', 1, 'IsMatch takes 2 argument(s) (target, pattern), got 1'],
    ['asset == "a" and Lookup(asset)', 18, 'unknown converter "Lookup"; supported: IsMatch'],
    ['asset == "a" or set(asset, "b")', 17, '"set(...)" is an editor'],
    ['severity_number >= SEVERITY_ERROR', 20, 'unknown name "SEVERITY_ERROR"'],
    [
      'Concat([asset], "-")',
      1,
      'expected a condition (a comparison, true/false, or a converter that returns a boolean such as IsMatch), found Concat(...)',
    ],
    ['"down"', 1, 'expected a condition'],
    ['attributes["a"] > attributes', 19, '">" cannot order maps'],
    ['["x"] <= attributes["a"]', 1, '"<=" cannot order lists'],
    ['severity_number["x"] == 1', 17, 'severity_number cannot be indexed'],
    ['attributes[] == 1', 12, 'expected a key such as ["name"] or [0]'],
    ['asset == 12abc', 12, 'expected an operator or separator after the number 12'],
    ['ExtractPatterns(body, "(\\\\w+)")["a"] == "x"', 23, 'expected at least one named group'],
    ['status.code == 2', 1, 'unknown path "status.code"; paths in the event context'],
  ])('%s → column %i', (source, column, message) => {
    const err = compileError(source);
    expect(err.column).toBe(column);
    expect(err.message).toContain(`column ${column}: `);
    expect(err.detail).toContain(message);
    expect(err.code).toBe('VIGIL_OTTL_INVALID');
  });

  it('knows the span context has status.code but not body', () => {
    expect(() => compileCondition('status.code == 2', 'span')).not.toThrow();
    expect(compileError('body == "x"', 'span').detail).toMatch(
      /^unknown path "body"; paths in the span context: name, kind/,
    );
  });
});

describe('compilePath', () => {
  it('refuses what is not a path, pointing at it', () => {
    expect(() => compilePath('Concat([body], "")', 'event')).toThrow(
      /column 1: expected a path such as attributes\["key"\] or body, found Concat/,
    );
    expect(() => compilePath('attributes["a"] extra', 'event')).toThrow(
      /column 17: expected the end of the expression/,
    );
  });
});
