/**
 * SMS length as networks count it (3GPP TS 23.038 and 23.040): text that fits the GSM 7-bit
 * alphabet takes 160 septets in one message, or 153 per segment once split (the rest carries the
 * concatenation header); anything else goes as UCS-2, 70 UTF-16 units in one message, 67 per
 * segment. Characters of the GSM extension table (`^{}\[~]|€`, form feed) take two septets.
 */
const GSM_BASIC = new Set([
  ...'@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
]);
const GSM_EXTENDED = new Set([...'^{}\\[~]|€\f']);

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export function encodingOf(text: string): SmsEncoding {
  for (const ch of text) if (!GSM_BASIC.has(ch) && !GSM_EXTENDED.has(ch)) return 'UCS-2';
  return 'GSM-7';
}

/** Septets (GSM-7) or UTF-16 units (UCS-2) the text takes. */
function units(text: string, encoding: SmsEncoding): number {
  if (encoding === 'UCS-2') return text.length;
  let n = 0;
  for (const ch of text) n += GSM_EXTENDED.has(ch) ? 2 : 1;
  return n;
}

const LIMITS = { 'GSM-7': { single: 160, multi: 153 }, 'UCS-2': { single: 70, multi: 67 } } as const;

export function segmentCount(text: string): number {
  const encoding = encodingOf(text);
  const n = units(text, encoding);
  const { single, multi } = LIMITS[encoding];
  return n <= single ? 1 : Math.ceil(n / multi);
}

/**
 * The text cut to fit `maxSegments`, ending in an ellipsis when cut: `...` for GSM-7 text (the
 * `…` character is not in the GSM alphabet and would turn the whole message into UCS-2, halving
 * what fits), `…` for UCS-2 text. Cuts fall between code points, never inside a surrogate pair.
 */
export function fitSegments(text: string, maxSegments: number): { text: string; truncated: boolean } {
  if (segmentCount(text) <= maxSegments) return { text, truncated: false };
  const encoding = encodingOf(text);
  const { single, multi } = LIMITS[encoding];
  const capacity = maxSegments === 1 ? single : maxSegments * multi;
  const ellipsis = encoding === 'GSM-7' ? '...' : '…';
  let room = capacity - units(ellipsis, encoding);
  let out = '';
  for (const ch of text) {
    const cost = units(ch, encoding);
    if (cost > room) break;
    out += ch;
    room -= cost;
  }
  return { text: out.trimEnd() + ellipsis, truncated: true };
}
