import { isNewer } from './memoryStore.ts';
import type { Register } from '../correlation/stateStore.ts';

/**
 * What one key still owes Redis, pre-aggregated: many engine writes between two flushes become
 * one op. A counter only says that some of its cells changed (the cells carry a dirty flag, and
 * their totals are read at flush time, since an agent writes its absolute totals); a mark its
 * highest value; a register its newest write. A deletion is sent first, so writes after it
 * apply to an empty key.
 */
export interface Pending {
  del?: { version: number; writer: string };
  counter?: true;
  mark?: { value: number; expiresAtMs: number };
  register?: { register: Register; expiresAtMs: number };
  /** Members added to a set since the last flush. */
  set?: { members: string[]; limit: number; expiresAtMs: number };
}

/** Folds `later` into `earlier` (mutating it): the pending state of both, in that order. */
export function combinePending(earlier: Pending, later: Pending): Pending {
  if (later.del) return later;
  if (later.counter) earlier.counter = true;
  if (later.mark) {
    const m = earlier.mark;
    if (!m) earlier.mark = later.mark;
    else {
      if (later.mark.value > m.value) m.value = later.mark.value;
      if (later.mark.expiresAtMs > m.expiresAtMs) m.expiresAtMs = later.mark.expiresAtMs;
    }
  }
  if (later.set) {
    const s = earlier.set;
    if (!s) earlier.set = later.set;
    else {
      for (const m of later.set.members) if (!s.members.includes(m)) s.members.push(m);
      if (later.set.limit > s.limit) s.limit = later.set.limit;
      if (later.set.expiresAtMs > s.expiresAtMs) s.expiresAtMs = later.set.expiresAtMs;
    }
  }
  if (later.register) {
    const r = earlier.register;
    if (!r || isNewer(later.register.register.version, later.register.register.writer, r.register))
      earlier.register = later.register;
  }
  return earlier;
}
