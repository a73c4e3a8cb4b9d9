/** Time ranges the events and overview pages offer, and the one the address names. */
export const RANGES: [string, number][] = [
  ['15m', 15 * 60_000],
  ['1h', 3_600_000],
  ['6h', 6 * 3_600_000],
  ['24h', 86_400_000],
  ['7d', 7 * 86_400_000],
];

/** `from`/`to` of the address, else the last `last` (default 1h) up to now. */
export function rangeOf(search: URLSearchParams): { from: string; to: string; last: string | null } {
  const from = search.get('from');
  const to = search.get('to');
  if (from && to && Number.isFinite(Date.parse(from)) && Number.isFinite(Date.parse(to)))
    return { from, to, last: null };
  const last = search.get('last') ?? '1h';
  const ms = RANGES.find(([k]) => k === last)?.[1] ?? 3_600_000;
  const now = Date.now();
  return { from: new Date(now - ms).toISOString(), to: new Date(now).toISOString(), last };
}
