import { describe, expect, it } from 'vitest';
import { importLeaks } from '../support/imports.ts';

describe('src/config/ is a leaf library', () => {
  it('imports only itself, errors.ts and the yaml package: no component, pipeline or service module', () => {
    const { files, leaks } = importLeaks('config', [/^config\//, /^errors\.ts$/, /^package yaml$/]);
    expect(files).toBeGreaterThanOrEqual(3);
    expect(leaks).toEqual([]);
  });

  it('would see a component import (the check is not vacuous)', () => {
    const { leaks } = importLeaks('service/config', [/^config\//, /^errors\.ts$/, /^package yaml$/]);
    expect(leaks.some((l) => l.includes('api/config.ts'))).toBe(true);
  });
});
