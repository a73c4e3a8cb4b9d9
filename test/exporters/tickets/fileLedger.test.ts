import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileTicketLedger } from '../../../src/exporters/tickets/fileLedger.ts';

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
});
