import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PruneReport } from '../../../src/exporters/helper/prune.ts';
import { FileTicketLedger } from '../../../src/exporters/tickets/fileLedger.ts';
import { createLogger } from '../../../src/telemetry/logger.ts';
import { SelfMetrics } from '../../../src/telemetry/selfMetrics.ts';

const DAY = 86_400_000;

function prunedLedger(
  limits: { maxAgeMs: number; maxBytes: number },
  path = join(mkdtempSync(join(tmpdir(), 'vigil-ledger-')), 'ledger.ndjson'),
) {
  const clock = { now: 100 * DAY };
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger('info', {
    write: (s: string) => logs.push(JSON.parse(s) as Record<string, unknown>),
  } as unknown as NodeJS.WritableStream);
  const metrics = new SelfMetrics();
  const ledger = new FileTicketLedger(path, {
    limits,
    now: () => clock.now,
    report: new PruneReport(metrics.registry, logger, 'jira', 'ledger'),
  });
  const pruned = async () =>
    (await metrics.registry.getSingleMetric('vigil_exporter_pruned_total')!.get()).values.find(
      (v) => v.labels.store === 'ledger',
    )?.value;
  return { ledger, path, clock, logs: () => logs.filter((l) => l.store === 'ledger'), pruned };
}

const ticket = (ref: string, resolved: boolean) => ({ ref, incidentId: `i-${ref}`, resolved });

describe('file ticket ledger', () => {
  it('lets one caller claim a key until it stores the ticket or releases the claim', async () => {
    const ledger = new FileTicketLedger(join(mkdtempSync(join(tmpdir(), 'vigil-ledger-')), 'ledger.ndjson'));
    await ledger.open();
    expect(await ledger.claim('disk{host="a"}')).toBe(true);
    expect(await ledger.claim('disk{host="a"}')).toBe(false);
    expect(await ledger.claim('disk{host="b"}')).toBe(true);
    await ledger.release('disk{host="b"}');
    expect(await ledger.claim('disk{host="b"}')).toBe(true);
    await ledger.put('disk{host="a"}', { ref: '42', incidentId: 'i1', resolved: false });
    expect(await ledger.get('disk{host="a"}')).toEqual({ ref: '42', incidentId: 'i1', resolved: false });
    await ledger.close();
  });

  it('stores puts made while the file is busy together, with one fsync for all, later puts of a key winning', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vigil-ledger-')), 'ledger.ndjson');
    const ledger = new FileTicketLedger(path);
    await ledger.open();
    const onDisk = () => readFileSync(path, 'utf8').split('\n').filter(Boolean).length;
    const lines: number[] = [];
    await Promise.all(
      Array.from({ length: 40 }, (_, n) =>
        ledger.put(`k${n % 20}`, ticket(`T-${n}`, n >= 20)).then(() => lines.push(onDisk())),
      ),
    );
    expect(ledger.fsyncs).toBeGreaterThanOrEqual(1);
    expect(ledger.fsyncs).toBeLessThanOrEqual(2);
    // Each put was in the file when it resolved.
    expect(Math.min(...lines)).toBeGreaterThanOrEqual(1);
    expect(lines.at(-1)).toBe(40);
    await ledger.close();
    const again = new FileTicketLedger(path);
    await again.open();
    for (let k = 0; k < 20; k++) expect(await again.get(`k${k}`)).toEqual(ticket(`T-${k + 20}`, true));
    await again.close();
  });

  it('keeps stored tickets across a restart, latest write winning', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vigil-ledger-')), 'ledger.ndjson');
    const first = new FileTicketLedger(path);
    await first.open();
    await first.put('k', { ref: 'OPS-1', incidentId: 'i1', resolved: false });
    await first.put('k', { ref: 'OPS-1', incidentId: 'i1', resolved: true });
    await first.put('other', { ref: 'OPS-2', incidentId: 'i2', resolved: false });
    await first.close();
    const second = new FileTicketLedger(path);
    await second.open();
    expect(await second.get('k')).toEqual({ ref: 'OPS-1', incidentId: 'i1', resolved: true });
    expect(await second.get('other')).toMatchObject({ ref: 'OPS-2' });
    expect(await second.get('missing')).toBeUndefined();
    await second.close();
  });

  it('forgets resolved tickets older than max_age, oldest first, keeps open ones whatever their age, and says so once', async () => {
    const t = prunedLedger({ maxAgeMs: 30 * DAY, maxBytes: 0 });
    await t.ledger.open();
    await t.ledger.put('old-open', ticket('1', false));
    await t.ledger.put('old-resolved', ticket('2', true));
    t.clock.now += 20 * DAY;
    await t.ledger.put('recent-resolved', ticket('3', true));
    t.clock.now += 11 * DAY; // the first two are 31 days old, the third 11
    const outcome = await t.ledger.prune();
    expect(outcome).toMatchObject({ removed: 1, byAge: 1, kept: 2 });
    expect(await t.ledger.get('old-resolved')).toBeUndefined();
    expect(await t.ledger.get('old-open')).toEqual(ticket('1', false));
    expect(await t.ledger.get('recent-resolved')).toEqual(ticket('3', true));
    expect(await t.pruned()).toBe(1);
    expect(t.logs()).toHaveLength(1);
    expect(t.logs()[0]).toMatchObject({ exporter: 'jira', removed: 1, removedForAge: 1, removedForSize: 0, kept: 2 });
    await t.ledger.close();
    // The file was rewritten without it: a restart does not bring it back.
    expect(readFileSync(t.path, 'utf8')).not.toContain('old-resolved');
    const again = prunedLedger({ maxAgeMs: 30 * DAY, maxBytes: 0 }, t.path);
    again.clock.now = t.clock.now;
    await again.ledger.open();
    expect(await again.ledger.get('old-resolved')).toBeUndefined();
    expect(await again.ledger.get('recent-resolved')).toEqual(ticket('3', true));
    await again.ledger.close();
  });

  it('prunes at start what aged while the daemon was stopped', async () => {
    const t = prunedLedger({ maxAgeMs: 30 * DAY, maxBytes: 0 });
    await t.ledger.open();
    await t.ledger.put('k', ticket('1', true));
    await t.ledger.close();
    const later = prunedLedger({ maxAgeMs: 30 * DAY, maxBytes: 0 }, t.path);
    later.clock.now = t.clock.now + 31 * DAY;
    await later.ledger.open();
    expect(await later.ledger.get('k')).toBeUndefined();
    expect(await later.pruned()).toBe(1);
    await later.ledger.close();
  });

  it('keeps its records under max_bytes by forgetting the oldest resolved tickets as it writes', async () => {
    const t = prunedLedger({ maxAgeMs: 0, maxBytes: 2048 });
    await t.ledger.open();
    await t.ledger.put('open', ticket('open', false));
    for (let i = 0; i < 100; i++) {
      t.clock.now += 1000;
      await t.ledger.put(`key-${i}`, ticket(String(i), false));
      await t.ledger.put(`key-${i}`, ticket(String(i), true));
    }
    await t.ledger.close();
    // Lines a later write superseded stay until the next rewrite, at the latest the next start.
    const reopened = new FileTicketLedger(t.path, { limits: { maxAgeMs: 0, maxBytes: 2048 }, now: () => t.clock.now });
    await reopened.open();
    await reopened.close();
    expect(statSync(t.path).size).toBeLessThanOrEqual(2048);
    expect(statSync(t.path).size).toBeGreaterThan(1024);
    const text = readFileSync(t.path, 'utf8');
    // The newest resolved tickets and the open one stay; the oldest went.
    expect(text).toContain('"key-99"');
    expect(text).toContain('"open"');
    expect(text).not.toContain('"key-0"');
    expect(await t.pruned()).toBeGreaterThan(50);
    expect(t.logs().length).toBeGreaterThan(0);
  });
});
