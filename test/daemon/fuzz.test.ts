import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { generator, FUZZ_CONFIG, LISTENERS, listenerPorts, type Port } from '../support/fuzz/listeners.ts';
import { fuzz, Sender, type Target } from '../support/fuzz/send.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';

// A fixed seed: CI runs the same inputs (a prefix of one sequence, as long as the time budget
// allows), so a failure is the code's, not the draw's. VIGIL_FUZZ_SEED=<n> explores others.
const SEED = Number(process.env.VIGIL_FUZZ_SEED ?? 20);
const BUDGET_MS = Number(process.env.VIGIL_FUZZ_MS ?? 4000);
const DEADLINE_MS = 10_000;

let daemon: RunningDaemon;
let ports: Record<Port, Target>;

beforeAll(async () => {
  daemon = await startDaemon(FUZZ_CONFIG);
  ports = listenerPorts(daemon.logs, daemon.http[0]!);
});

afterAll(async () => {
  await daemon?.stop('SIGKILL');
});

async function healthy(): Promise<void> {
  expect(daemon.proc.exitCode, `the daemon exited (replay with VIGIL_FUZZ_SEED=${SEED})`).toBeNull();
  expect((await fetch(daemon.adminUrl('/healthz'))).status).toBe(200);
}

describe(`fuzz targets, one per listener (VIGIL_FUZZ_SEED=${SEED})`, () => {
  for (const listener of LISTENERS) {
    it(
      `${listener.name} answers every input within the contract (seed ${SEED})`,
      { timeout: BUDGET_MS + DEADLINE_MS + 20_000 },
      async () => {
        const sender = new Sender(ports[listener.port], DEADLINE_MS);
        const stats = await fuzz({
          seed: SEED,
          generate: generator(listener, SEED),
          sender,
          maxInputs: Infinity,
          until: performance.now() + BUDGET_MS,
          concurrency: 8,
          alive: () => daemon.proc.exitCode === null,
        });
        sender.close();
        console.log(
          `fuzz ${listener.name} seed ${SEED}: ${stats.inputs} inputs in ${Math.round(stats.ms)} ms`,
          stats.answers,
        );
        expect(
          stats.bad,
          `answers against the contract; replay with VIGIL_FUZZ_SEED=${SEED} and the input index`,
        ).toEqual([]);
        expect(stats.inputs).toBeGreaterThan(0);
        await healthy();
      },
    );
  }

  it('still stores a well-formed record from every listener after the fuzzing', async () => {
    const marker = `after-fuzz-${SEED}`;
    const udp = createSocket('udp4');
    await new Promise<void>((res, rej) =>
      udp.send(`<13>1 - ${marker}-udp app - - - ok`, ports.syslogUdp.port, ports.syslogUdp.host, (err) =>
        err ? rej(err) : res(),
      ),
    );
    udp.close();
    const json = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body: JSON.stringify({ asset: `${marker}-json`, body: 'ok' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(json.status).toBe(200);
    const otlp = await fetch(daemon.url('/v1/logs'), {
      method: 'POST',
      body: JSON.stringify({
        resourceLogs: [
          {
            resource: { attributes: [{ key: 'host.name', value: { stringValue: `${marker}-otlp` } }] },
            scopeLogs: [{ logRecords: [{ body: { stringValue: 'ok' } }] }],
          },
        ],
      }),
      headers: { 'content-type': 'application/json' },
    });
    expect(otlp.status).toBe(200);
    const alert = await fetch(daemon.url('/api/v2/alerts'), {
      method: 'POST',
      body: JSON.stringify([{ labels: { alertname: 'ok', instance: `${marker}-alertmanager` } }]),
      headers: { 'content-type': 'application/json' },
    });
    expect(alert.status).toBe(200);
    const file = join(daemon.dataDir, 'events.ndjson');
    const assets = ['udp', 'json', 'otlp', 'alertmanager'].map((t) => `${marker}-${t}`);
    const stored = () => new Set(readNdjson<{ asset?: string }>(file).map((e) => e.asset));
    await waitFor(
      () => assets.every((a) => stored().has(a)),
      `the well-formed records ${assets.join(', ')} to be stored`,
      30_000,
    );
    await healthy();
  });
});
