/**
 * Records refused inside an otherwise good request. OTLP answers these with `partial_success`
 * (the count and a message) so the sender keeps the good records and does not retry.
 */
export class Rejections {
  count = 0;
  private readonly reasons: string[] = [];

  add(reason: string, count = 1): void {
    this.count += count;
    if (this.reasons.length < 3) this.reasons.push(reason);
  }

  message(): string {
    if (this.count === 0) return '';
    const more = this.count > this.reasons.length ? `; ${this.count - this.reasons.length} more` : '';
    return `${this.count} rejected: ${this.reasons.join('; ')}${more}`;
  }
}

export interface Decoded<T> {
  items: T[];
  rejected: Rejections;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_ID: Record<number, string> = { 16: '0'.repeat(32), 8: '0'.repeat(16) };

/** True for an all-zero id, which W3C trace context defines as "no id". */
export function isZeroId(hex: string): boolean {
  return hex === ZERO_ID[hex.length / 2];
}

/**
 * How a request carried its ids: protobuf as bytes, which the decoder writes as lowercase hex
 * (so only their length needs checking), OTLP/JSON as text, which may hold anything.
 */
export type IdEncoding = 'bytes' | 'text';

/**
 * Checks a trace or span id (lowercase hex). Returns the reason it is unusable, or undefined.
 * All-zero ids are invalid ids in W3C trace context; `optional` ids may be empty. Ids decoded
 * from bytes skip the pattern: it took 11 % of decoding a span with a link (four ids).
 */
export function idProblem(
  field: string,
  hex: string,
  bytes: 16 | 8,
  optional: boolean,
  encoding: IdEncoding,
): string | undefined {
  if (hex.length === 0) return optional ? undefined : `${field} is required`;
  if (hex.length !== bytes * 2 || (encoding === 'text' && !HEX.test(hex)))
    return `${field} must be ${bytes} bytes (${bytes * 2} hex digits), got ${JSON.stringify(hex.slice(0, 40))}`;
  if (hex === ZERO_ID[bytes]) return `${field} must not be all zeros`;
  return undefined;
}
