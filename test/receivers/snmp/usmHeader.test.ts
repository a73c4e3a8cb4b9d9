import { describe, expect, it } from 'vitest';
import { readUsmHeader } from '../../../src/receivers/snmp/usmHeader.ts';
import { capture, V2C_COLD_START, v3Header } from './datagrams.ts';
import { snmptrap, v3 } from './snmptrap.ts';

/** The datagram snmptrap sends for `args`. */
const captured = (args: string[]) => capture((target) => snmptrap([...args, target, '', '1.3.6.1.6.3.1.1.5.1']));

describe('readUsmHeader', () => {
  it('reads the engine ID and user of what snmptrap sends, encrypted or not', async () => {
    const priv = await captured(
      v3('some-user', 'authPriv', ['SHA', 'vigil-auth-pass'], ['AES', 'vigil-priv-pass'], '0x80001F8804766967696C'),
    );
    expect(readUsmHeader(priv)).toEqual({ engineId: '80001f8804766967696c', user: 'some-user' });
    const auth = await captured(
      v3('ünïcode', 'authNoPriv', ['MD5', 'vigil-auth-pass'], undefined, '0x8000000001020304'),
    );
    expect(readUsmHeader(auth)).toEqual({ engineId: '8000000001020304', user: 'ünïcode' });
  });

  it('is undefined for v1/v2c, truncated headers and lengths past the datagram', () => {
    expect(readUsmHeader(V2C_COLD_START)).toBeUndefined();
    const header = v3Header({ flags: 0x03, user: 'u', tail: Buffer.alloc(0) });
    expect(readUsmHeader(header)).toEqual({ engineId: '80001f8804766967696c', user: 'u' });
    for (let n = 0; n < header.length; n++) expect(readUsmHeader(header.subarray(0, n))).toBeUndefined();
    expect(readUsmHeader(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x03]))).toBeUndefined();
    expect(readUsmHeader(Buffer.from([0x30, 0x85, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x03]))).toBeUndefined();
  });
});
