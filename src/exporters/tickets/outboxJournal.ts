import { appendFile, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Why and when an entry was given up on; it stays in the journal, and its key's later entries wait behind it. */
export interface ParkInfo {
  atMs: number;
  reason: string;
  /** Attempts made before parking. */
  attempts: number;
}

/**
 * Journal records, one JSON line each: an added entry (`i`: the id of the change it carries, when
 * the caller gave one), a delivered one, a parked one (kept, with why), one moved back into
 * delivery, what an attempt already did (the latest wins), the sequence floor, and the ids of
 * changes taken before the last rewrite of the journal (`ids`, oldest first). `x` is how versions
 * before parked entries were kept wrote "parked and dropped"; it still removes the entry.
 */
export type JournalRecord<T, P = unknown> =
  | { a: number; k: string; t: number; p: T; i?: string }
  | { d: number }
  | { x: number }
  | { park: number; at: number; why: string; tries: number }
  | { retry: number }
  | { progress: number; v: P }
  | { n: number }
  | { ids: string[] };

export interface JournalEntry<T, P = unknown> {
  seq: number;
  key: string;
  payload: T;
  enqueuedAtMs: number;
  parked?: ParkInfo;
  /** What an earlier attempt achieved before it failed, so that no retry repeats it (see Outbox.recordProgress). */
  progress?: P;
  /** The change's own id, given by whoever appended it: the same change appended again is dropped. */
  id?: string;
}

export const JOURNAL_FILE = 'outbox.ndjson';
/** Requests from `vigil tickets retry`, one JSON line each; the outbox takes them on its next pass. */
export const RETRY_REQUESTS_FILE = 'retry-requests.ndjson';
/** The name a batch of requests has while the outbox applies it; still applied after a crash. */
const TAKEN_SUFFIX = '.taken';

export type RetryRequest = { all: true } | { seq: number };

/**
 * The entries a journal's text leaves undelivered, in append order, the next free sequence
 * number, and the ids of the changes it took, delivered or not, oldest first.
 */
export function replayJournal<T, P = unknown>(
  text: string,
): { entries: JournalEntry<T, P>[]; nextSeq: number; takenIds: string[] } {
  const pending = new Map<number, JournalEntry<T, P>>();
  const takenIds = new Set<string>();
  let nextSeq = 1;
  for (const line of text.split('\n')) {
    if (!line) continue;
    let rec: JournalRecord<T, P>;
    try {
      rec = JSON.parse(line) as JournalRecord<T, P>;
    } catch {
      // Only the last line can be torn (a crash mid-append); it was never acknowledged.
      continue;
    }
    if ('a' in rec) {
      const e: JournalEntry<T, P> = { seq: rec.a, key: rec.k, payload: rec.p, enqueuedAtMs: rec.t };
      if (typeof rec.i === 'string') takenIds.add((e.id = rec.i));
      pending.set(rec.a, e);
      nextSeq = Math.max(nextSeq, rec.a + 1);
    } else if ('n' in rec) nextSeq = Math.max(nextSeq, rec.n);
    else if ('ids' in rec) {
      for (const id of Array.isArray(rec.ids) ? rec.ids : []) if (typeof id === 'string') takenIds.add(id);
    } else if ('park' in rec) {
      const e = pending.get(rec.park);
      if (e) e.parked = { atMs: rec.at, reason: rec.why, attempts: rec.tries };
    } else if ('retry' in rec) {
      const e = pending.get(rec.retry);
      if (e) delete e.parked;
    } else if ('progress' in rec) {
      const e = pending.get(rec.progress);
      if (e) e.progress = rec.v;
    } else pending.delete('d' in rec ? rec.d : rec.x);
  }
  return { entries: [...pending.values()].sort((x, y) => x.seq - y.seq), nextSeq, takenIds: [...takenIds] };
}

/** The line that adds an entry. */
export function addedRecord<T>(e: JournalEntry<T, unknown>): string {
  const rec: JournalRecord<T> = { a: e.seq, k: e.key, t: e.enqueuedAtMs, p: e.payload };
  if (e.id !== undefined) rec.i = e.id;
  return JSON.stringify(rec) + '\n';
}

export function entryRecords<T, P>(e: JournalEntry<T, P>): string {
  let text = addedRecord(e);
  if (e.parked)
    text += JSON.stringify({ park: e.seq, at: e.parked.atMs, why: e.parked.reason, tries: e.parked.attempts }) + '\n';
  if (e.progress !== undefined) text += JSON.stringify({ progress: e.seq, v: e.progress }) + '\n';
  return text;
}

/** One undelivered change as `vigil tickets list` shows it. */
export interface StuckEntry<T> extends JournalEntry<T> {
  /** For a waiting entry: the seq of the parked entry of its key it waits behind. */
  waitsOn?: number;
}

/**
 * The parked entries of an outbox directory and those waiting behind them, read without a lock:
 * the daemon only appends to the journal or replaces it by rename, so a reader sees a whole file
 * whose last line at worst is torn.
 */
export async function readStuckEntries<T>(dir: string): Promise<StuckEntry<T>[]> {
  let text = '';
  try {
    text = await readFile(join(dir, JOURNAL_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const blockedBy = new Map<string, number>();
  const out: StuckEntry<T>[] = [];
  for (const e of replayJournal<T>(text).entries) {
    const parkedHead = blockedBy.get(e.key);
    if (parkedHead !== undefined) out.push({ ...e, waitsOn: parkedHead });
    else if (e.parked) {
      blockedBy.set(e.key, e.seq);
      out.push(e);
    }
  }
  return out;
}

/** Asks the outbox in `dir` (running or not) to deliver parked entries again. */
export async function requestRetry(dir: string, requests: readonly RetryRequest[]): Promise<void> {
  // One short O_APPEND write per call: concurrent callers never interleave within a line.
  await appendFile(join(dir, RETRY_REQUESTS_FILE), requests.map((r) => JSON.stringify(r) + '\n').join(''), {
    mode: 0o600,
  });
}

/**
 * Takes the pending retry requests of `dir`: the file is renamed first, so a request written
 * meanwhile starts a new one for the next pass; `done()` removes what was taken once its effect
 * is in the journal. A batch a crash left taken is taken again: applying a request twice does nothing more.
 */
export async function takeRetryRequests(
  dir: string,
  nowMs: number,
): Promise<{ requests: RetryRequest[]; done(): Promise<void> }> {
  let names = await readdir(dir).catch(() => [] as string[]);
  if (names.includes(RETRY_REQUESTS_FILE)) {
    await rename(join(dir, RETRY_REQUESTS_FILE), join(dir, `${RETRY_REQUESTS_FILE}.${nowMs}${TAKEN_SUFFIX}`));
    names = await readdir(dir);
  }
  const taken = names.filter((n) => n.startsWith(RETRY_REQUESTS_FILE + '.') && n.endsWith(TAKEN_SUFFIX)).sort();
  const requests: RetryRequest[] = [];
  for (const name of taken) {
    for (const line of (await readFile(join(dir, name), 'utf8')).split('\n')) {
      try {
        const r = JSON.parse(line) as { all?: unknown; seq?: unknown };
        if (r.all === true) requests.push({ all: true });
        else if (Number.isInteger(r.seq)) requests.push({ seq: r.seq as number });
      } catch {
        // an empty or torn line
      }
    }
  }
  return { requests, done: async () => void (await Promise.all(taken.map((n) => rm(join(dir, n), { force: true })))) };
}
