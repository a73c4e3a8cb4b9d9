/**
 * The Redis Cluster hash slot of a key, as the cluster specification defines it: CRC16 (XMODEM:
 * polynomial 0x1021, initial value 0) of the key's bytes, modulo 16384; when the key holds a
 * non-empty `{...}` (the first `{` and the first `}` after it), only what lies between them is
 * hashed, so keys with the same hash tag share a slot. Worked out here, not asked of the server:
 * a client that needs a key's node for every notification claim would otherwise ask once per key.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let from = 0;
  let to = bytes.length;
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) {
      from = open + 1;
      to = close;
    }
  }
  let crc = 0;
  for (let i = from; i < to; i++) {
    crc ^= bytes[i]! << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
