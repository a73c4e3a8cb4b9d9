import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/daemon.ts';

let blocker: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
  blocker = undefined;
});

/** A port some other process holds. */
async function portInUse(): Promise<number> {
  blocker = createServer();
  await new Promise<void>((resolve) => blocker!.listen(0, '127.0.0.1', resolve));
  return (blocker.address() as { port: number }).port;
}

describe('vigil run that cannot start', () => {
  it('exits 1 at once with one line saying what failed, even with correlation rules watched for reloads', async () => {
    const port = await portInUse();
    const dir = mkdtempSync(join(tmpdir(), 'vigil-start-fail-'));
    const file = join(dir, 'vigil.yaml');
    writeFileSync(
      file,
      `
receivers:
  json: { endpoint: 127.0.0.1:${port} }
exporters:
  file/events: { path: events.ndjson }
  correlation: {}
correlation:
  rules:
    - kind: pair
      name: asset_down
      group_by: [asset]
service:
  pipelines:
    logs: { receivers: [json], exporters: [file/events, correlation] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`,
    );
    // Well under shutdown_timeout (30s): nothing is left waiting. A daemon still up by then is killed (code null).
    const { code, stderr } = await runCli(['run', '--config', file, '--data-dir', dir], {}, 10_000);
    expect(code).toBe(1);
    const lines = stderr.trim().split('\n');
    const last = JSON.parse(lines.at(-1)!) as { level: number; msg: string; err?: unknown };
    expect(last.level).toBe(60);
    expect(last.msg).toMatch(new RegExp(`^Vigil failed to start: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
    expect(last.err).toBeUndefined();
    // One line says it, without a stack trace anywhere.
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(lines.filter((l) => l.includes('EADDRINUSE'))).toHaveLength(1);
  }, 30_000);
});
