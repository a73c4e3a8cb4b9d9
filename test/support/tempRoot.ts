import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest's global setup: the run's temporary files (every `mkdtemp` under `tmpdir()`, in test
 * workers and in the daemons and servers they start, which inherit TMPDIR) go under one directory
 * that is removed when the run ends. Tests that forgot their own directories, or were cut short,
 * left thousands behind in /tmp on a developer's machine (3,000 ticket exporter directories in
 * ninety minutes of runs).
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'vigil-tests-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
