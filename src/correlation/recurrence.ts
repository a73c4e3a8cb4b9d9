/**
 * Weekly windows in a time zone: on each of `days` (local), from the local time `startMinute`
 * to the local time `endMinute` (the next day's when it is not later than the start), or for
 * `durationMs` of elapsed time. Local times are turned into instants as RFC 5545 (iCalendar)
 * and Temporal's `compatible` disambiguation do: a time skipped when clocks go forward is read
 * with the offset before the change (02:30 on a spring-forward night at 02:00 is 03:30 after
 * it), and a time that happens twice when clocks go back is its first occurrence.
 */
export interface Recurrence {
  /** 0 = Sunday … 6 = Saturday: the local days a window starts on. */
  days: ReadonlySet<number>;
  startMinute: number;
  /** End as a local time of day; or, without it, `durationMs`. */
  endMinute?: number;
  durationMs?: number;
  timezone: string;
}

import { zoneFormatter, zonedParts } from '../model/timeZone.ts';

const DAY_MS = 86_400_000;
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** Whether `timezone` is an IANA zone this runtime knows. */
export function knownTimeZone(timezone: string): boolean {
  try {
    zoneFormatter(timezone);
    return true;
  } catch {
    return false;
  }
}

/** The local wall clock at `atMs` in `timezone`, as ms on a UTC scale (so getUTC* read it). */
function wallClock(timezone: string, atMs: number): number {
  if (timezone === 'UTC') return atMs;
  const p = zonedParts(timezone, atMs);
  return Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour!, +p.minute!, +p.second!) + (((atMs % 1000) + 1000) % 1000);
}

/** Offset of `timezone` from UTC at `atMs`, in ms. */
export function zoneOffsetMs(timezone: string, atMs: number): number {
  return wallClock(timezone, atMs) - atMs;
}

/**
 * The instant of a local time: `wallMs` is the wall clock on a UTC scale (`Date.UTC(y, m, d, h, min)`).
 * A zone changes its offset at most once within a day either side of any instant, so the offsets
 * there are the only candidates.
 */
export function instantOf(timezone: string, wallMs: number): number {
  const before = zoneOffsetMs(timezone, wallMs - DAY_MS);
  const after = zoneOffsetMs(timezone, wallMs + DAY_MS);
  const valid = [wallMs - before, wallMs - after].filter((t) => wallClock(timezone, t) === wallMs);
  // None: skipped by clocks going forward, read with the offset before. Two: the first.
  return valid.length === 0 ? wallMs - before : Math.min(...valid);
}

/** The window that starts on the local date `dayMs` (midnight, UTC scale). */
function windowOn(r: Recurrence, dayMs: number): { startMs: number; endMs: number } {
  const startMs = instantOf(r.timezone, dayMs + r.startMinute * 60_000);
  if (r.endMinute === undefined) return { startMs, endMs: startMs + (r.durationMs ?? 0) };
  const endDay = r.endMinute > r.startMinute ? dayMs : dayMs + DAY_MS;
  return { startMs, endMs: instantOf(r.timezone, endDay + r.endMinute * 60_000) };
}

/** The windows that start on the local days from `firstDay` days after `atMs`'s local date to `lastDay`, in order. */
function windowsAround(r: Recurrence, atMs: number, firstDay: number, lastDay: number) {
  const today = Math.floor(wallClock(r.timezone, atMs) / DAY_MS) * DAY_MS;
  const out: { startMs: number; endMs: number }[] = [];
  for (let k = firstDay; k <= lastDay; k++) {
    const day = today + k * DAY_MS;
    if (r.days.has(new Date(day).getUTCDay())) out.push(windowOn(r, day));
  }
  return out;
}

/** How many days back a window that is on now may have started. */
function lookBack(r: Recurrence): number {
  return r.endMinute === undefined ? Math.ceil((r.durationMs ?? 0) / DAY_MS) + 1 : 2;
}

/** Whether a window of the recurrence is on at `nowMs`. */
export function recurrenceActive(r: Recurrence, nowMs: number): boolean {
  return windowsAround(r, nowMs, -lookBack(r), 0).some((w) => w.startMs <= nowMs && nowMs < w.endMs);
}

/** The window on at `atMs`, else the next one to start (within a week); undefined when none does. */
export function currentOrNextWindow(r: Recurrence, atMs: number): { startMs: number; endMs: number } | undefined {
  return windowsAround(r, atMs, -lookBack(r), 8).find((w) => w.endMs > atMs && w.endMs > w.startMs);
}
