import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/waitFor.ts';

let daemon: RunningDaemon | undefined;
afterEach(async () => {
  await daemon?.stop('SIGKILL');
  daemon = undefined;
});

/** Every file below `dir`, with its permission bits. */
function modes(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    // A spool segment is renamed when sealed (.open → .jsonl): it may be gone between listing and stat.
    const st = statSync(path, { throwIfNoEntry: false });
    if (st) out.set(path.slice(dir.length + 1), st.mode & 0o777);
  }
  return out;
}

describe('files Vigil writes are not readable by everyone', () => {
  it('creates event files 0640 and spools, outboxes, ledgers and state 0600', async () => {
    // ClickHouse and the webhook receiver are away (port 9): their rows and changes wait on disk.
    daemon = await startDaemon(`
receivers:
  json: { endpoint: 127.0.0.1:0 }
exporters:
  file/events: { path: events.ndjson }
  clickhouse: { endpoint: http://127.0.0.1:9, batch: { max_delay: 10ms } }
  webhook: { url: http://127.0.0.1:9/hook }
  correlation: {}
correlation:
  defaults: { group_wait: 0s }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
service:
  pipelines:
    logs: { receivers: [json], exporters: [file/events, clickhouse, correlation] }
    incidents: { exporters: [webhook] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`);
    const res = await fetch(daemon.url('/v1/events'), {
      method: 'POST',
      body: '{"asset":"web-1","type":"down"}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    const dir = daemon.dataDir;
    const has = (re: RegExp) => [...modes(dir).keys()].some((f) => re.test(f));
    await waitFor(
      () =>
        has(/^events\.ndjson$/) &&
        has(/clickhouse-spool\/.*\.(jsonl|open)$/) &&
        has(/webhook\/outbox\.ndjson$/) &&
        has(/webhook\/ledger\.ndjson$/) &&
        has(/^correlation\/log-/),
      'the event file, a spool segment, the outbox journal, the ticket ledger and the state log',
    );
    for (const [file, mode] of modes(dir)) {
      if (file === 'vigil.yaml') continue; // the test's own config
      const want = file === 'events.ndjson' ? 0o640 : 0o600;
      expect(mode.toString(8), file).toBe(want.toString(8));
    }
  });
});
