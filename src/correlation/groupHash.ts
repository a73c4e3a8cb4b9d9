/**
 * FNV-1a (32 bits) over UTF-16 code units: the hash that places a group's key in a partition
 * (`partitionOf` in src/state/redisPartitions.ts). Every agent must place a key alike, whatever
 * its version, so this function is a wire fact: change it and agents disagree on owners.
 */
export const FNV_OFFSET = 0x811c9dc5;

/** `h` carried on over the code units of `s` (start with FNV_OFFSET; `>>> 0` the end for an unsigned value). */
export function fnv1a(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/**
 * `fnv1a(h, escaped)` where `escaped` is `s` as an incident key writes a label value (backslash,
 * double quote and newline escaped, as `escapeLabelValue` in fieldPath.ts does), without building it.
 */
export function fnv1aEscaped(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c === 0x5c || c === 0x22 || c === 0x0a) {
      h ^= 0x5c;
      h = Math.imul(h, 0x01000193);
      if (c === 0x0a) c = 0x6e;
    }
    h ^= c;
    h = Math.imul(h, 0x01000193);
  }
  return h;
}
