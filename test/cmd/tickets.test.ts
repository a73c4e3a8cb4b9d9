import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../src/exporters/tickets/delivery.ts';
import { incidentExporterDir } from '../../src/exporters/tickets/incidentExporter.ts';
import { Outbox } from '../../src/exporters/tickets/outbox.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { runCli } from '../support/daemon.ts';
import { IncidentStory } from '../exporters/incidentFixtures.ts';

/** A data dir whose `jira/ops` outbox holds a parked open with an update and a resolve waiting behind it. */
async function dataDirWithParkedChange(): Promise<{ dataDir: string; outboxDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-tickets-cli-'));
  const outboxDir = incidentExporterDir(dataDir, 'jira/ops');
  const box = new Outbox<IncidentChange>({
    dir: outboxDir,
    fsync: false,
    maxAttempts: 3,
    backoff: { initialMs: 1000, maxMs: 1000 },
    concurrency: 1,
    deliver: async () => {
      throw new DeliveryError('Jira create issue: HTTP 400 {"errors":{"project":"project is required"}}', {
        retryable: false,
        status: 400,
      });
    },
  });
  await box.open();
  box.start();
  const story = new IncidentStory();
  await box.append([{ key: 'disk-full{host="db-1"}', payload: story.next('opened') }]);
  await box.whenIdle();
  await box.append(
    ['updated', 'resolved'].map((kind) => ({
      key: 'disk-full{host="db-1"}',
      payload: story.next(kind as 'updated' | 'resolved'),
    })),
  );
  await box.close();
  return { dataDir, outboxDir };
}

describe('vigil tickets', () => {
  it('lists the parked change and those waiting behind it, and writes a retry request the outbox takes', async () => {
    const { dataDir, outboxDir } = await dataDirWithParkedChange();
    const list = await runCli(['tickets', 'list', '--data-dir', dataDir]);
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^exporter\s+id\s+incident\s+kind\s+attempts\s+parked at\s+last error$/);
    expect(lines[1]).toMatch(
      /^jira\/ops\s+1\s+disk-full\{host="db-1"\}\s+opened\s+1\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+Jira create issue: HTTP 400/,
    );
    expect(lines[2]).toMatch(/^jira\/ops\s+2\s+disk-full\{host="db-1"\}\s+updated\s+-\s+-\s+waiting on 1$/);
    expect(lines[3]).toMatch(/\s+3\s+.*resolved\s+-\s+-\s+waiting on 1$/);

    const waiting = await runCli(['tickets', 'retry', '--data-dir', dataDir, '--id', '2']);
    expect([waiting.code, waiting.stderr]).toEqual([
      1,
      'vigil tickets: change 2 is not parked: it waits behind parked change 1; retry that one\n',
    ]);
    const retry = await runCli(['tickets', 'retry', '--data-dir', dataDir, '--exporter', 'jira/ops', '--id', '1']);
    expect(retry.stderr).toBe('');
    expect(retry.stdout).toBe(
      'jira/ops: retry requested for 1 parked change(s) and the 2 waiting behind them; a running daemon sends them within 2 s, a stopped one at its next start\n',
    );
    expect(readFileSync(join(outboxDir, 'retry-requests.ndjson'), 'utf8')).toBe('{"seq":1}\n');

    // The outbox (a daemon starting here) takes the request and delivers all three in order.
    const sent: string[] = [];
    const box = new Outbox<IncidentChange>({
      dir: outboxDir,
      fsync: false,
      maxAttempts: 3,
      backoff: { initialMs: 1000, maxMs: 1000 },
      concurrency: 1,
      deliver: async (e) => void sent.push(e.payload.kind),
    });
    await box.open();
    box.start();
    await box.whenIdle();
    await box.close();
    expect(sent).toEqual(['opened', 'updated', 'resolved']);
    expect((await runCli(['tickets', 'list', '--data-dir', dataDir])).stdout).toBe(
      'no parked or waiting incident changes\n',
    );
  });

  it('answers --help with examples, and mistakes with one line', async () => {
    const help = await runCli(['tickets', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: vigil tickets list/);
    expect(help.stdout).toContain('vigil tickets retry --exporter glpi --id 42');
    const { dataDir } = await dataDirWithParkedChange();
    const empty = mkdtempSync(join(tmpdir(), 'vigil-tickets-cli-'));
    const cases: [string[], number, string][] = [
      [['tickets'], 2, 'vigil tickets: needs "list" or "retry" (see vigil tickets --help)'],
      [
        ['tickets', 'retry', '--data-dir', dataDir],
        2,
        'vigil tickets: retry needs --id ID or --all (one of them) (see vigil tickets --help)',
      ],
      [
        ['tickets', 'retry', '--data-dir', dataDir, '--id', 'x'],
        2,
        'vigil tickets: --id "x": use an id from "vigil tickets list" (a positive integer) (see vigil tickets --help)',
      ],
      [
        ['tickets', 'retry', '--data-dir', dataDir, '--id', '9'],
        1,
        'vigil tickets: no parked change with id 9 (see vigil tickets list)',
      ],
      [
        ['tickets', 'list', '--data-dir', dataDir, '--exporter', 'glpi'],
        1,
        `vigil tickets: no outbox for exporter "glpi" in ${dataDir} (there are: jira/ops)`,
      ],
      [
        ['tickets', 'list', '--data-dir', empty],
        1,
        `vigil tickets: ${empty}: no ticket outbox here (no GLPI, Jira or webhook exporter has run with this data dir; see --data-dir)`,
      ],
    ];
    for (const [args, code, line] of cases) {
      const r = await runCli(args);
      expect([r.code, r.stderr], args.join(' ')).toEqual([code, line + '\n']);
    }
  });
});
