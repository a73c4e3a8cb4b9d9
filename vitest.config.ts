import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: daemon-process tests fight for CPU when too many run at once.
    maxWorkers: 2,
  },
});
