import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { IncidentChange } from '../../src/model/incident.ts';
import { correlatingConfig, postEvents, startDaemon } from '../support/daemon.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { readNdjson } from '../support/ndjson.ts';
import { waitFor } from '../support/waitFor.ts';

const run = promisify(execFile);
/** Debian's prometheus-alertmanager package's amtool. */
const AMTOOL = '/usr/bin/amtool';

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

interface GettableSilence {
  id: string;
  status: { state: string };
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
  createdBy: string;
  comment: string;
}

describe("amtool against Vigil's Alertmanager API v2 silences", () => {
  it('adds, queries and expires a silence; the silenced incident is stored suppressed, not ticketed, and ticketed once the silence is expired', async () => {
    const glpi = await new FakeGlpi().listen();
    cleanup.push(() => glpi.close());
    const yaml = correlatingConfig(
      `
  tick_interval: 50ms
  defaults: { group_wait: 0s, group_interval: 1s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [asset] }
`,
      {
        id: 'glpi',
        yaml: `\n  glpi:\n    url: ${glpi.apiUrl}\n    app_token: app-token-1\n    user_token: user-token-1`,
      },
    );
    const d = await startDaemon(`${yaml}\napi:\n  endpoint: 127.0.0.1:0\n  anonymous_role: operator\n`);
    cleanup.push(() => d.stop('SIGKILL'));
    const amtool = async (...args: string[]) =>
      (await run(AMTOOL, [`--alertmanager.url=${d.apiUrl('')}`, ...args], { timeout: 30_000 })).stdout.trim();

    const id = await amtool(
      'silence',
      'add',
      'rule=asset_down',
      'asset=web-1',
      '--comment=switch swap',
      '--author=alice',
      '--duration=2h',
    );
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const [listed, ...others] = JSON.parse(await amtool('silence', 'query', '-o', 'json')) as GettableSilence[];
    expect(others).toEqual([]);
    expect(listed).toMatchObject({ id, status: { state: 'active' }, createdBy: 'alice', comment: 'switch swap' });
    expect(listed!.matchers).toEqual(
      expect.arrayContaining([
        { name: 'rule', value: 'asset_down', isRegex: false, isEqual: true },
        { name: 'asset', value: 'web-1', isRegex: false, isEqual: true },
      ]),
    );
    expect(JSON.parse(await amtool('silence', 'query', '-o', 'json', 'asset=web-1'))).toHaveLength(1);
    expect(JSON.parse(await amtool('silence', 'query', '-o', 'json', 'asset=db-1'))).toEqual([]);

    await postEvents(d, [
      { asset: 'web-1', type: 'down', title: 'web-1 unreachable', severity: 'CRITICAL' },
      { asset: 'db-1', type: 'down', title: 'db-1 unreachable', severity: 'CRITICAL' },
    ]);
    const stored = () => readNdjson<IncidentChange>(join(d.dataDir, 'incidents.ndjson'));
    await waitFor(
      () => stored().some((c) => c.incident.asset === 'web-1' && c.kind === 'opened'),
      'the silenced incident in storage',
    );
    expect(stored().find((c) => c.incident.asset === 'web-1')).toMatchObject({
      kind: 'opened',
      notify: false,
      incident: { suppressed: true, suppressedBy: `silence:${id}` },
    });
    // Both opened in one batch: once db-1's ticket exists, the GLPI exporter has seen web-1's opening too.
    await waitFor(() => glpi.tickets.size >= 1, "the unsilenced incident's ticket");
    expect([...glpi.tickets.values()].map((t) => t.name)).toEqual([expect.stringContaining('db-1')]);

    await amtool('silence', 'expire', id);
    await waitFor(() => glpi.tickets.size >= 2, 'the ticket of the incident the silence held back');
    expect([...glpi.tickets.values()].map((t) => t.name).sort()).toEqual([
      expect.stringContaining('db-1'),
      expect.stringContaining('web-1'),
    ]);
    expect(
      stored()
        .filter((c) => c.incident.asset === 'web-1')
        .map((c) => `${c.kind}${c.notify ? '!' : ''}`),
    ).toEqual(['opened', 'unsuppressed', 'opened!']);
    // amtool lists only unexpired silences unless asked.
    expect(JSON.parse(await amtool('silence', 'query', '-o', 'json'))).toEqual([]);
    expect(JSON.parse(await amtool('silence', 'query', '-o', 'json', '--expired'))).toMatchObject([
      { id, status: { state: 'expired' } },
    ]);
  }, 60_000);
});
