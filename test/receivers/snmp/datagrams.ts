import { createSocket } from 'node:dgram';

/** A coldStart as `snmptrap -v 2c -c public HOST 100 1.3.6.1.6.3.1.1.5.1` sends it. */
export const V2C_COLD_START = Buffer.from(
  '304302010104067075626c6963a7360204303ef31c0201000201003028300d06082b060102010103004301643017060a2b06010603010104010006092b0601060301010501',
  'hex',
);

export function sendDatagram(port: number, d: Buffer): Promise<void> {
  const sock = createSocket('udp4');
  return new Promise<void>((res) =>
    sock.send(d, port, '127.0.0.1', () => {
      sock.close();
      res();
    }),
  );
}

/** Its trap PDU, after version and community. */
export const COLD_START_PDU = V2C_COLD_START.subarray(V2C_COLD_START.indexOf(0xa7));

/** A GetRequest PDU for no variables: what an SNMPv3 engine ID discovery carries. */
export const DISCOVERY_PDU = Buffer.from('a00b0201010201000201003000', 'hex');

/** A PDU in an SNMPv3 scoped PDU with an empty context. */
export function scopedPdu(pdu: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from([0x04, 0x00, 0x04, 0x00]), pdu]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** An SNMPv3 message header (RFC 3412) with the given flags and user, followed by `tail` as its data. */
export function v3Header(o: { flags: number; user: string; tail: Buffer }): Buffer {
  const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag, body.length]), body]);
  const int = (n: number) => tlv(0x02, Buffer.from([n]));
  const str = (s: Buffer | string) => tlv(0x04, Buffer.isBuffer(s) ? s : Buffer.from(s));
  const global = tlv(
    0x30,
    Buffer.concat([int(1), tlv(0x02, Buffer.from([0x00, 0xff, 0xe3])), str(Buffer.from([o.flags])), int(3)]),
  );
  const usm = tlv(
    0x30,
    Buffer.concat([
      str(Buffer.from('80001f8804766967696c', 'hex')),
      int(1),
      int(1),
      str(o.user),
      str(Buffer.alloc(o.flags & 1 ? 12 : 0)),
      str(Buffer.alloc(o.flags & 2 ? 8 : 0)),
    ]),
  );
  return tlv(0x30, Buffer.concat([int(3), global, str(usm), o.tail]));
}

/** The datagram a Net-SNMP tool sends for `send(target)`, caught on a socket of our own. */
export async function capture(send: (target: string) => Promise<{ code: number; stderr: string }>): Promise<Buffer> {
  const sock = createSocket('udp4');
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  const got = new Promise<Buffer>((res) => sock.once('message', res));
  const r = await send(`127.0.0.1:${sock.address().port}`);
  const b = await got;
  sock.close();
  if (r.code !== 0 && !r.stderr.includes('Timeout')) throw new Error(`could not capture a datagram: ${r.stderr}`);
  return b;
}
