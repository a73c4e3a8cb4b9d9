import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SLOWEST } from './support/slowestFirst.ts';

describe('the order test files start in', () => {
  it('names only test files that exist among those started first, so that a renamed one is not left to run last', () => {
    const root = join(import.meta.dirname, '..');
    expect(SLOWEST.length).toBeGreaterThan(0);
    expect(SLOWEST.filter((path) => !existsSync(join(root, path)) || !path.endsWith('.test.ts'))).toEqual([]);
  });
});
