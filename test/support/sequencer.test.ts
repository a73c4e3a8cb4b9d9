import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { LONGEST } from './sequencer.ts';

it('lists, as the longest test files to start first, files that exist', () => {
  const root = join(import.meta.dirname, '../..');
  expect(LONGEST.filter((path) => !existsSync(join(root, path)))).toEqual([]);
});
