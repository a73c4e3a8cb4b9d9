import { mulberry32 } from '../../support/seededRandom.ts';

/**
 * The log records of testdata/logs.x-snappy-framed and testdata/logs.snappy: an
 * ExportLogsServiceRequest (service "go-framed") compressed by Go's snappy
 * (klauspost/compress/snappy): `NewBufferedWriter` (the framing format, as the Collector's
 * `x-snappy-framed` and older `snappy`) and `Encode` (a block, as the Collector's `snappy`).
 * The first body, text, spans several 64 KiB chunks; the second, random bytes, does not
 * compress, so the framing writer stores it in uncompressed chunks.
 */
export function framedFixtureRecords(): Record<string, unknown>[] {
  const random = mulberry32(18);
  const bytes = Buffer.alloc(70_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  return [
    { timeUnixNano: '1763892000123456789', severityNumber: 9, body: { stringValue: 'vigil snappy '.repeat(12_000) } },
    { timeUnixNano: '1763892000123456789', severityNumber: 9, body: { bytesValue: bytes } },
  ];
}
