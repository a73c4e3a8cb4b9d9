import { describe, expect, it } from 'vitest';
import { MAX_VARBINDS, octetString, renderValue, trapToEvent } from '../../../src/receivers/snmp/mapping.ts';
import type { TrapPdu } from '../../../src/receivers/snmp/trapDecoder.ts';

const origin = { peerAddress: '203.0.113.5', peerPort: 40000, version: '1' as const };
const v1 = (fields: Partial<TrapPdu>): TrapPdu => ({
  type: 164,
  enterprise: '1.3.6.1.4.1.9',
  agentAddr: '0.0.0.0',
  generic: 2,
  specific: 0,
  upTime: 1,
  varbinds: [],
  ...fields,
});

describe('SNMP varbind values', () => {
  it('octet strings: text when printable UTF-8 (a trailing NUL dropped), else hex pairs', () => {
    expect(octetString(Buffer.from('Gi0/1\0'))).toBe('Gi0/1');
    expect(octetString(Buffer.from('température'))).toBe('température');
    expect(octetString(Buffer.from('tab\tand\r\nlines'))).toBe('tab\tand\r\nlines');
    expect(octetString(Buffer.from([0x00, 0x1a, 0x2b]))).toBe('00:1a:2b');
    expect(octetString(Buffer.from([0x41, 0x07, 0x42]))).toBe('41:07:42');
    expect(octetString(Buffer.from([0xc3, 0x28]))).toBe('c3:28');
    expect(octetString(Buffer.alloc(0))).toBe('');
  });

  it('Counter64 as a decimal string past 2^53; Opaque as hex; error types as their names', () => {
    expect(renderValue({ oid: '1', type: 70, value: Buffer.from('ffffffffffffffff', 'hex') })).toBe(
      '18446744073709551615',
    );
    expect(renderValue({ oid: '1', type: 70, value: Buffer.from('0020000000000001', 'hex') })).toBe('9007199254740993');
    expect(renderValue({ oid: '1', type: 68, value: Buffer.from([1, 2]) })).toBe('01:02');
    expect(renderValue({ oid: '1', type: 5, value: null })).toBeNull();
    expect(renderValue({ oid: '1', type: 128, value: null })).toBe('noSuchObject');
    expect(renderValue({ oid: '1', type: 1, value: true })).toBe(true);
  });
});

describe('trapToEvent', () => {
  it('a v1 trap whose agent-addr is 0.0.0.0 is about the UDP peer; ifIndex comes from another ifEntry column', () => {
    const e = trapToEvent(
      v1({ varbinds: [{ oid: '1.3.6.1.2.1.2.2.1.8.12', type: 2, value: 2 }] }),
      origin,
      undefined,
      5n,
    );
    expect(e).toMatchObject({ asset: '203.0.113.5', type: 'down', observedTimeUnixNano: 5n, timeUnixNano: 0n });
    expect(e.attributes).toMatchObject({ 'snmp.agent.address': '203.0.113.5', 'snmp.if_index': 12 });
  });

  it("takes no trap OID from Object's prototype for a standard trap", () => {
    for (const oid of ['constructor', '__proto__', 'toString']) {
      const e = trapToEvent(
        { type: 167, varbinds: [{ oid: '1.3.6.1.6.3.1.1.4.1.0', type: 6, value: oid }] } as TrapPdu,
        origin,
        undefined,
        0n,
      );
      expect(e).toMatchObject({ type: 'neutral', severityNumber: 9, title: `${oid} from 203.0.113.5` });
      expect(e.attributes['snmp.trap.oid']).toBe(oid);
      expect(e.attributes['snmp.trap.name']).toBeUndefined();
    }
  });

  it('only link traps carry snmp.if_index', () => {
    const e = trapToEvent(
      v1({ generic: 0, varbinds: [{ oid: '1.3.6.1.2.1.2.2.1.1.4', type: 2, value: 4 }] }),
      origin,
      undefined,
      0n,
    );
    expect(e).toMatchObject({ type: 'up', title: 'coldStart from 203.0.113.5' });
    expect(e.attributes['snmp.if_index']).toBeUndefined();
  });

  it(`keeps ${MAX_VARBINDS} varbinds and counts the rest, so one datagram cannot become a huge event`, () => {
    const varbinds = Array.from({ length: MAX_VARBINDS + 40 }, (_, i) => ({
      oid: `1.3.6.1.4.1.32473.1.${i}`,
      type: 2,
      value: i,
    }));
    const e = trapToEvent(v1({ generic: 6, specific: 1, varbinds }), origin, undefined, 0n);
    expect(Object.keys(e.attributes).filter((k) => k.startsWith('snmp.varbind.'))).toHaveLength(MAX_VARBINDS);
    expect(e.attributes['snmp.varbinds_dropped']).toBe(40);
  });
});
