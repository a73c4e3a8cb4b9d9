import { describe, expect, it } from 'vitest';
import { importLeaks, specifiers } from '../support/imports.ts';

/** What the pure core may import: itself, the model, OTTL, the config schema DSL, errors, and node builtins. */
const ALLOWED = [/^correlation\//, /^model\//, /^ottl\//, /^config\/schema\.ts$/, /^errors\.ts$/];

describe('the correlation core (src/correlation/)', () => {
  it('imports nothing from the shell: no state backends, receivers, exporters, pipeline, service or telemetry', () => {
    const { files, leaks } = importLeaks('correlation', ALLOWED);
    expect(files).toBeGreaterThan(10);
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
