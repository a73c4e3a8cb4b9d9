/**
 * The fuzz targets of test/daemon/fuzz.test.ts at volume: `--inputs N` (default 1,000,000) seeded
 * inputs per listener against one real daemon, counting crashes (must be 0), hangs (no answer
 * within `--deadline-ms`), answers by class, the daemon's peak RSS and inputs/s.
 * Run: `node bench/fuzz.ts [--inputs 20000] [--seed 1] [--only otlp-grpc]`.
 */
import { startDaemon } from '../test/support/daemon.ts';
import { generator, FUZZ_CONFIG, LISTENERS, listenerPorts } from '../test/support/fuzz/listeners.ts';
import { fuzz, Sender } from '../test/support/fuzz/send.ts';
import { benchArgs, fmt, peakRssMiB, table } from './support.ts';

const { values } = benchArgs(import.meta.filename, {
  options: {
    inputs: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '20' },
    'deadline-ms': { type: 'string', default: '10000' },
    only: { type: 'string' },
  },
});
const N = Number(values.inputs);
const SEED = Number(values.seed);

const daemon = await startDaemon(FUZZ_CONFIG);
const ports = listenerPorts(daemon.logs, daemon.http[0]!);
const rows: (string | number)[][] = [];
let failed = false;
try {
  for (const listener of LISTENERS.filter((l) => !values.only || l.name === values.only)) {
    const sender = new Sender(ports[listener.port], Number(values['deadline-ms']));
    const stats = await fuzz({
      seed: SEED,
      generate: generator(listener, SEED),
      sender,
      maxInputs: N,
      until: Infinity,
      concurrency: 8,
      alive: () => daemon.proc.exitCode === null,
    });
    sender.close();
    const health = daemon.proc.exitCode === null ? (await fetch(daemon.adminUrl('/healthz'))).status : 0;
    const crashes = daemon.proc.exitCode === null && health === 200 ? 0 : 1;
    const answers = Object.entries(stats.answers)
      .sort((a, b) => b[1] - a[1])
      .map(([cls, n]) => `${cls}: ${fmt(n)}`)
      .join(', ');
    if (crashes || stats.hangs || stats.bad.length) failed = true;
    rows.push([
      listener.name,
      fmt(stats.inputs),
      crashes,
      stats.hangs,
      stats.bad.length ? stats.bad.join('; ') : 'none',
      answers,
      peakRssMiB(daemon.proc.pid!),
      fmt((stats.inputs / stats.ms) * 1000),
    ]);
    if (crashes) break;
  }
} finally {
  await daemon.stop('SIGKILL');
}
console.log(`Seed ${SEED}, ${fmt(N)} inputs per listener, concurrency 8, one daemon for all listeners.\n`);
console.log(
  table(
    [
      'listener',
      'inputs',
      'crashes',
      'hangs',
      'against the contract',
      'answers by class',
      'daemon peak RSS (MiB)',
      'inputs/s',
    ],
    rows,
  ),
);
process.exitCode = failed ? 1 : 0;
