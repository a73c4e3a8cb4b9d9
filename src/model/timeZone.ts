/* One formatter per zone: building one costs far more than formatting with it. */
const formatters = new Map<string, Intl.DateTimeFormat>();

/** A cached formatter of every local field (24-hour clock) in an IANA zone; throws a RangeError for an unknown zone. */
export function zoneFormatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'long',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The local fields at `atMs` in `zone`, by part name (`year`, `month`, `day`, `hour`, `minute`, `second`, `weekday`). */
export function zonedParts(zone: string, atMs: number): Record<string, string> {
  const parts: Record<string, string> = {};
  for (const p of zoneFormatter(zone).formatToParts(atMs)) parts[p.type] = p.value;
  return parts;
}
