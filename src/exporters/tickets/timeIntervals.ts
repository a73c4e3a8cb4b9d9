import { list, obj, optional, str, timeZone, type Infer } from '../../config/schema.ts';
import { zonedParts } from '../../model/timeZone.ts';

/**
 * Named time intervals, as Alertmanager's `time_intervals`: a route is muted while one of its
 * `mute_time_intervals` is active, and notifies only while one of its `active_time_intervals` is.
 * Each interval matches when every field it sets matches the local time in its `location`
 * (an IANA time zone, so a daylight-saving change moves UTC, not the local hours).
 */
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

const rangeList = (doc: string) => optional(list(str({ nonEmpty: true }), { doc }));

export const timeIntervalSpecSchema = obj({
  times: optional(
    list(
      obj({
        start_time: str({
          pattern: /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/,
          patternHint: 'HH:MM',
          doc: 'Inclusive, `HH:MM`.',
        }),
        end_time: str({
          pattern: /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/,
          patternHint: 'HH:MM',
          doc: 'Exclusive, `HH:MM` (`24:00` for the end of the day).',
        }),
      }),
      { doc: 'Times of day.' },
    ),
  ),
  weekdays: rangeList('Days of the week or ranges: `monday`, `monday:friday`.'),
  days_of_month: rangeList('Days of the month or ranges, negative from the end: `1`, `1:5`, `-1` (the last day).'),
  months: rangeList('Months by name or number, or ranges: `january:march`, `12`.'),
  years: rangeList('Years or ranges: `2026`, `2026:2027`.'),
  location: timeZone({ default: 'UTC', doc: 'IANA time zone the fields above are read in, e.g. `Europe/Paris`.' }),
});

export const timeIntervalsSchema = list(
  obj({
    name: str({ nonEmpty: true, doc: 'Referred to by routes.' }),
    time_intervals: list(timeIntervalSpecSchema, { minItems: 1, doc: 'Active when any of these matches.' }),
  }),
  { default: [], doc: 'Named time intervals for routes to mute or activate by (Alertmanager `time_intervals`).' },
);

export type TimeIntervalSpec = Infer<typeof timeIntervalSpecSchema>;

interface Range {
  from: number;
  to: number;
}

interface CompiledSpec {
  minutes?: Range[];
  weekdays?: Range[];
  days?: Range[];
  months?: Range[];
  years?: Range[];
  location: string;
}

/** Parses `a` or `a:b` where each side is a number or a name; throws a message that names the value. */
function parseRanges(
  values: readonly string[] | undefined,
  names: readonly string[] | undefined,
  min: number,
  max: number,
  what: string,
): Range[] | undefined {
  if (!values) return undefined;
  const one = (text: string): number => {
    const t = text.trim().toLowerCase();
    const byName = names?.indexOf(t) ?? -1;
    const n = byName >= 0 ? byName + (names === MONTHS ? 1 : 0) : /^-?\d+$/.test(t) ? Number(t) : NaN;
    if (!Number.isInteger(n) || n < min || n > max || (n === 0 && min < 0))
      throw new Error(`${what} "${text}" is not one of ${names ? names.join(', ') + ' or ' : ''}${min}–${max}`);
    return n;
  };
  return values.map((v) => {
    const [a, b] = v.split(':');
    const from = one(a!);
    const to = b === undefined ? from : one(b);
    if (Math.sign(from) === Math.sign(to) && to < from) throw new Error(`${what} range "${v}" ends before it starts`);
    return { from, to };
  });
}

const hhmm = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));

export function compileSpec(spec: TimeIntervalSpec): CompiledSpec {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: spec.location });
  } catch {
    throw new Error(`location "${spec.location}" is not an IANA time zone (e.g. Europe/Paris, America/New_York, UTC)`);
  }
  const minutes = spec.times?.map((t) => {
    const r = { from: hhmm(t.start_time), to: hhmm(t.end_time) };
    if (r.to <= r.from) throw new Error(`times ${t.start_time}–${t.end_time}: end_time must be after start_time`);
    return r;
  });
  return {
    ...(minutes ? { minutes } : {}),
    ...(spec.weekdays ? { weekdays: parseRanges(spec.weekdays, WEEKDAYS, 0, 6, 'weekday') } : {}),
    ...(spec.days_of_month ? { days: parseRanges(spec.days_of_month, undefined, -31, 31, 'day of month') } : {}),
    ...(spec.months ? { months: parseRanges(spec.months, MONTHS, 1, 12, 'month') } : {}),
    ...(spec.years ? { years: parseRanges(spec.years, undefined, 1970, 9999, 'year') } : {}),
    location: spec.location,
  };
}

interface LocalTime {
  year: number;
  month: number;
  day: number;
  weekday: number;
  minute: number;
  daysInMonth: number;
}

function localTime(ms: number, zone: string): LocalTime {
  const parts = zonedParts(zone, ms);
  const year = Number(parts.year);
  const month = Number(parts.month);
  return {
    year,
    month,
    day: Number(parts.day),
    weekday: WEEKDAYS.indexOf(parts.weekday!.toLowerCase()),
    minute: Number(parts.hour) * 60 + Number(parts.minute),
    daysInMonth: new Date(Date.UTC(year, month, 0)).getUTCDate(),
  };
}

const within = (ranges: Range[] | undefined, v: number) =>
  ranges === undefined || ranges.some((r) => v >= r.from && v <= r.to);

function specActive(spec: CompiledSpec, ms: number): boolean {
  const t = localTime(ms, spec.location);
  if (spec.minutes && !spec.minutes.some((r) => t.minute >= r.from && t.minute < r.to)) return false;
  if (!within(spec.weekdays, t.weekday) || !within(spec.months, t.month) || !within(spec.years, t.year)) return false;
  if (spec.days) {
    // Negative days count from the month's end (-1 is its last day), resolved for this month.
    const day = (d: number) => (d < 0 ? t.daysInMonth + d + 1 : d);
    if (!spec.days.some((r) => t.day >= day(r.from) && t.day <= day(r.to))) return false;
  }
  return true;
}

/** A named interval: active when any of its specs is. */
export interface TimeInterval {
  name: string;
  active(ms: number): boolean;
}

export function compileTimeInterval(name: string, specs: readonly TimeIntervalSpec[]): TimeInterval {
  const compiled = specs.map(compileSpec);
  return { name, active: (ms) => compiled.some((s) => specActive(s, ms)) };
}

export type TimeIntervalsConfig = Infer<typeof timeIntervalsSchema>;

/** For config validation in one place: the message, or the compiled interval. */
export function tryCompileTimeInterval(name: string, specs: readonly TimeIntervalSpec[]): TimeInterval | string {
  try {
    return compileTimeInterval(name, specs);
  } catch (err) {
    return (err as Error).message;
  }
}
