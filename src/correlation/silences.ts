import type { StateStore, StateValue } from './stateStore.ts';
import { matcherOf, type LabelMatcher } from './labelMatchers.ts';

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
}

export type SilenceState = 'pending' | 'active' | 'expired';

/** A silence as the suppressor applies it. */
export interface ActiveSilence {
  id: string;
  tenant: string;
  matchers: LabelMatcher[];
  startsAtMs: number;
  endsAtMs: number;
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
      if (typeof matchers !== 'string') live.push({ id: s.id, tenant: s.tenant, matchers, startsAtMs: s.startsAtMs, endsAtMs: s.endsAtMs });
    }
    this.compiled = live;
  }
}
