import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../../src');
const CORE = join(SRC, 'correlation');

/** What the pure core may import: itself, the model, OTTL, the config schema DSL, errors, and node builtins. */
const ALLOWED = [/^correlation\//, /^model\//, /^ottl\//, /^config\/schema\.ts$/, /^errors\.ts$/];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every module specifier of static imports, re-exports and dynamic imports. */
function specifiers(text: string): string[] {
  return [
    ...text.matchAll(
      /(?:^|[\s;])(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]|(?:^|[\s;])import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm,
    ),
  ].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

describe('the correlation core (src/correlation/)', () => {
  it('imports nothing from the shell: no state backends, receivers, exporters, pipeline, service or telemetry', () => {
    const files = sources(CORE);
    expect(files.length).toBeGreaterThan(10);
    const leaks: string[] = [];
    for (const file of files) {
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        if (spec.startsWith('node:')) continue;
        const target = spec.startsWith('.')
          ? relative(SRC, resolve(file, '..', spec))
              .split('\\')
              .join('/')
          : `package ${spec}`;
        if (!ALLOWED.some((a) => a.test(target))) leaks.push(`${relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(leaks).toEqual([]);
  });

  it('sees every import form the check relies on', () => {
    expect(
      specifiers(
        `import type { A } from '../state/x.ts';\nexport { b } from "./b.ts";\nimport './side.ts';\nconst m = await import('../pipeline/p.ts');\nimport {\n  c,\n} from 'prom-client';`,
      ),
    ).toEqual(['../state/x.ts', './b.ts', './side.ts', '../pipeline/p.ts', 'prom-client']);
  });
});
