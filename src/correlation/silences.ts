import type { StateStore, StateValue } from './stateStore.ts';
import { matcherOf, type LabelMatcher } from './labelMatchers.ts';
import { knownTimeZone, WEEKDAYS, type Recurrence } from './recurrence.ts';

/** One matcher as Alertmanager's API v2 writes it. */
export interface SilenceMatcher {
  name: string;
  value: string;
  isRegex: boolean;
  /** false negates: `!=` or `!~`. */
  isEqual: boolean;
}

/** A silence made through the operators' API (or amtool): part of the correlation core's state. */
export interface SilenceRecord {
  id: string;
  matchers: SilenceMatcher[];
  startsAtMs: number;
  endsAtMs: number;
  createdBy: string;
  comment: string;
  /** The tenant whose incidents it silences; '' for a caller without one (every tenant's). */
  tenant: string;
  updatedAtMs: number;
  /**
   * A maintenance window: between startsAt and endsAt it silences only while one of its weekly
   * windows is on. Absent: a plain silence, on throughout.
   */
  recurrence?: StoredRecurrence;
}

/** A recurrence as it is stored and shown: local days, times of day and zone. */
export interface StoredRecurrence {
  /** `mon` … `sun`: the local days a window starts on. */
  days: string[];
  /** `HH:MM`, local. */
  start: string;
  /** `HH:MM`, local; not after `start`: the next day's. */
  end: string;
  /** IANA zone. */
  timezone: string;
}

const minuteOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The recurrence as the suppressor applies it, or what is wrong with it. */
export function compileRecurrence(r: StoredRecurrence): Recurrence | string {
  if (!knownTimeZone(r.timezone))
    return `unknown time zone ${JSON.stringify(r.timezone)}; use an IANA name such as "Europe/Paris"`;
  const days = r.days.map((d) => WEEKDAYS.indexOf(d as (typeof WEEKDAYS)[number]));
  if (days.length === 0 || days.includes(-1)) return `days must name at least one of ${WEEKDAYS.join(', ')}`;
  return { days: new Set(days), startMinute: minuteOf(r.start), endMinute: minuteOf(r.end), timezone: r.timezone };
}

export type SilenceState = 'pending' | 'active' | 'expired';

/** A silence as the suppressor applies it. */
export interface ActiveSilence {
  id: string;
  tenant: string;
  matchers: LabelMatcher[];
  startsAtMs: number;
  endsAtMs: number;
  /** A maintenance window's: it silences only while a window is on. */
  recurrence?: Recurrence;
}

/** How long an expired silence stays listed (as Alertmanager's default `data.retention`, 120h). */
export const SILENCE_RETENTION_MS = 120 * 3_600_000;
const TAG = 'sil:';

export function silenceState(s: SilenceRecord, nowMs: number): SilenceState {
  if (nowMs >= s.endsAtMs) return 'expired';
  return nowMs < s.startsAtMs ? 'pending' : 'active';
}

/** The matchers compiled, or the first error message. */
export function compileSilenceMatchers(matchers: readonly SilenceMatcher[]): LabelMatcher[] | string {
  const out: LabelMatcher[] = [];
  for (const m of matchers) {
    const compiled = matcherOf(m.name, m.isRegex ? (m.isEqual ? '=~' : '!~') : m.isEqual ? '=' : '!=', m.value);
    if (typeof compiled === 'string') return compiled;
    out.push(compiled);
  }
  return out;
}

/**
 * The silences, kept in the state store as registers (`sil:<id>`): journaled by the durable
 * store like any state, and shipped to other agents by a shared one. An expired silence is
 * kept for SILENCE_RETENTION_MS after its end, then forgotten.
 */
export class SilenceBook {
  private readonly store: StateStore;
  private compiled: ActiveSilence[] = [];

  constructor(store: StateStore) {
    this.store = store;
  }

  get(id: string): SilenceRecord | undefined {
    return this.store.read(TAG + id)?.value as unknown as SilenceRecord | undefined;
  }

  list(): SilenceRecord[] {
    const all: SilenceRecord[] = [];
    for (const key of [...this.store.keys(TAG)]) {
      const s = this.store.read(key)?.value as unknown as SilenceRecord | undefined;
      if (s) all.push(s);
    }
    return all;
  }

  /** Writes a silence (new or changed); its matchers must compile. */
  put(s: SilenceRecord, nowMs: number): void {
    const key = TAG + s.id;
    const version = Math.max(nowMs, (this.store.read(key)?.version ?? -1) + 1);
    this.store.write(key, s as unknown as StateValue, version, s.endsAtMs + SILENCE_RETENTION_MS);
    this.refresh(nowMs);
  }

  /** The silences not yet expired, compiled: what the suppressor reads between refreshes. */
  get live(): readonly ActiveSilence[] {
    return this.compiled;
  }

  /** Reads the store again (other agents' silences, expiries). */
  refresh(nowMs: number): void {
    const live: ActiveSilence[] = [];
    for (const s of this.list()) {
      if (silenceState(s, nowMs) === 'expired') continue;
      const matchers = compileSilenceMatchers(s.matchers);
      const recurrence = s.recurrence && compileRecurrence(s.recurrence);
      if (typeof matchers !== 'string' && typeof recurrence !== 'string')
        live.push({
          id: s.id,
          tenant: s.tenant,
          matchers,
          startsAtMs: s.startsAtMs,
          endsAtMs: s.endsAtMs,
          ...(recurrence ? { recurrence } : {}),
        });
    }
    this.compiled = live;
  }
}

/** A silence as a client posts it (Alertmanager's postableSilence): `id` names one to change. */
export interface SilenceDraft {
  id?: string;
  matchers: SilenceMatcher[];
  startsAtMs: number;
  endsAtMs: number;
  createdBy: string;
  comment: string;
}

export type SilenceAdmission =
  { ok: true; silence: SilenceRecord } | { ok: false; refusal: 'invalid' | 'not_found'; message: string };

/**
 * The silence a post makes, with Alertmanager's rules: a start in the past starts now; the end
 * must be after the start and not past; at least one matcher must not match the empty value
 * (else it would silence everything lacking a label). Changing a silence keeps its id, unless it
 * has expired: then a new one is made. `existing` is the silence `draft.id` names, if the
 * caller may see it; `tenant` the caller's.
 */
export function admitSilence(
  draft: SilenceDraft,
  existing: SilenceRecord | undefined,
  tenant: string,
  nowMs: number,
  newId: () => string,
): SilenceAdmission {
  if (draft.id !== undefined && !existing)
    return { ok: false, refusal: 'not_found', message: `no silence has id ${draft.id}` };
  const matchers = compileSilenceMatchers(draft.matchers);
  if (typeof matchers === 'string') return { ok: false, refusal: 'invalid', message: matchers };
  if (matchers.every((m) => m.test('')))
    return {
      ok: false,
      refusal: 'invalid',
      message:
        'at least one matcher must not match the empty value (a silence of every incident lacking a label is refused)',
    };
  const startsAtMs = Math.max(draft.startsAtMs, nowMs);
  if (draft.endsAtMs <= nowMs) return { ok: false, refusal: 'invalid', message: 'endsAt must be in the future' };
  if (draft.endsAtMs < startsAtMs)
    return { ok: false, refusal: 'invalid', message: 'endsAt must not be before startsAt' };
  const keep = existing && silenceState(existing, nowMs) !== 'expired';
  return {
    ok: true,
    silence: {
      id: keep ? existing.id : newId(),
      matchers: draft.matchers,
      startsAtMs,
      endsAtMs: draft.endsAtMs,
      createdBy: draft.createdBy,
      comment: draft.comment,
      tenant,
      updatedAtMs: nowMs,
    },
  };
}

/** The silence ended now: a pending one never starts; an expired one stays as it is. */
export function expiredNow(s: SilenceRecord, nowMs: number): SilenceRecord {
  switch (silenceState(s, nowMs)) {
    case 'expired':
      return s;
    case 'pending':
      return { ...s, startsAtMs: nowMs, endsAtMs: nowMs, updatedAtMs: nowMs };
    case 'active':
      return { ...s, endsAtMs: nowMs, updatedAtMs: nowMs };
  }
}

/**
 * Whether a silence passes a list filter, as Alertmanager decides: the labels its equality
 * matchers name must satisfy every filter matcher.
 */
export function silenceMatchesFilter(s: SilenceRecord, filter: readonly LabelMatcher[]): boolean {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const m of s.matchers) if (m.isEqual && !m.isRegex) labels[m.name] = m.value;
  return filter.every((f) => f.test(labels[f.label] ?? ''));
}

/** The silences as the operators' API needs them of the correlation runtime. */
export interface SilenceDesk {
  /** The core's clock. */
  nowMs(): number;
  silences(): SilenceRecord[];
  silence(id: string): SilenceRecord | undefined;
  /** Writes a silence (admitted by `admitSilence` or `expiredNow`) and delivers what it changed in the incidents. */
  putSilence(silence: SilenceRecord): Promise<void>;
}
