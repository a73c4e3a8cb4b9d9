#!/usr/bin/env node
// Assembles what the image's runtime stage holds (`full` or `slim`) into a directory, without
// Docker: the files its COPY lines name, and node_modules from the npm ci line of the deps stage
// it copies from. Prints the tree's size; with --run, starts `vigil run` from it as the image
// would. Usage: node cmd/image/runtime-tree.ts full|slim OUT_DIR
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { npmCiCommand, parseCopy, parseDockerfile, stageChain } from './dockerfile.ts';

const root = resolve(import.meta.dirname, '../..');

/** Bytes under a path (files counted once, as `du -sb` does). */
export function treeBytes(path: string): number {
  return Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);
}

/**
 * Builds `target`'s file tree under `out` (`out/app`, `out/etc/vigil`, ...): returns the
 * directory the image's WORKDIR maps to.
 */
export function assembleRuntimeTree(target: string, out: string, log: (s: string) => void = () => {}): string {
  const { stages } = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  let workdir = '/';
  const inTree = (p: string) => join(out, isAbsolute(p) ? p : join(workdir, p));
  for (const stage of stageChain(stages, target)) {
    for (const ins of stage.instructions) {
      if (ins.op === 'WORKDIR') {
        workdir = ins.args;
        mkdirSync(inTree('.'), { recursive: true });
      }
      if (ins.op !== 'COPY') continue;
      const copy = parseCopy(ins.args);
      if (copy.from === undefined) {
        for (const src of copy.sources) {
          const dest = copy.dest.endsWith('/') ? join(inTree(copy.dest), src.split('/').at(-1)!) : inTree(copy.dest);
          mkdirSync(dirname(dest), { recursive: true });
          cpSync(join(root, src), dest, { recursive: true });
        }
        continue;
      }
      // COPY --from=<deps stage> /app/node_modules ./node_modules: run that stage's npm ci.
      const deps = stages.find((s) => s.name === copy.from)!;
      const npm = deps.instructions.map((i) => (i.op === 'RUN' ? npmCiCommand(i.args) : undefined)).find(Boolean)!;
      const flags = npm.split(/\s+/).slice(2);
      const build = join(out, '.deps');
      mkdirSync(build, { recursive: true });
      for (const f of ['package.json', 'package-lock.json']) cpSync(join(root, f), join(build, f));
      log(`npm ci ${flags.join(' ')}`);
      execFileSync('npm', ['ci', ...flags], { cwd: build, stdio: ['ignore', 'ignore', 'inherit'] });
      cpSync(join(build, 'node_modules'), inTree(copy.dest), { recursive: true, verbatimSymlinks: true });
      rmSync(build, { recursive: true, force: true });
    }
  }
  return inTree('.');
}

if (import.meta.main) {
  const [target, out] = process.argv.slice(2);
  if ((target !== 'full' && target !== 'slim') || !out) {
    process.stderr.write('usage: node cmd/image/runtime-tree.ts full|slim OUT_DIR\n');
    process.exit(2);
  }
  rmSync(out, { recursive: true, force: true });
  const started = Date.now();
  const app = assembleRuntimeTree(target, resolve(out), (s) => process.stderr.write(`${s}\n`));
  const node = statSync(process.execPath).size;
  const total = treeBytes(out);
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  process.stdout.write(
    `${target}: ${mb(total)} (node_modules ${mb(treeBytes(join(app, 'node_modules')))}); with the node binary (${mb(node)}): ${mb(total + node)}; assembled in ${Math.round((Date.now() - started) / 1000)} s\n`,
  );
}
