import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { renderConfigReference, spliceReference } from '../../../src/service/config/docs.ts';

describe('configuration reference', () => {
  it('in the README is the one the schema generates (run `npm run docs` after changing a schema)', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(spliceReference(readme, renderConfigReference(registry))).toBe(readme);
  });

  it('documents every key with its default', () => {
    const ref = renderConfigReference(registry);
    expect(ref).toContain('| `receivers.json.max_request_body_size` | size |  | `"20MiB"` |');
    expect(ref).toContain('| `exporters.file.path` | string | yes |');
    expect(ref).toContain('| `service.memory_limiter.limit_mib` | integer |');
  });
});
