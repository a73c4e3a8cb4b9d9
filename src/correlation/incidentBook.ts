import { createHash } from 'node:crypto';
import type { VigilEvent } from '../model/event.ts';
import type { Incident, IncidentAuditEntry, IncidentChange, IncidentChangeKind } from '../model/incident.ts';
import { SeverityNumber } from '../model/severity.ts';
import { formatIncidentKey, parseIncidentKey, TENANT_LABEL } from './fieldPath.ts';
import { AUDIT_LIMIT, joinIncidentRecords, sameRecord, statusAtOf } from './incidentJoin.ts';
import type { RegisterWatch, StateStore, StateValue } from './stateStore.ts';

export type ResolvePolicy = 'first' | 'last' | 'all' | 'never';

/** Notification and lifecycle settings of one rule, defaults applied. */
export interface IncidentPolicy {
  rule: string;
  kind: string;
  title: string | undefined;
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  reopenWindowMs: number;
  sampleSize: number;
  resolve: ResolvePolicy;
  /** Most incidents of the rule open at once; 0: no limit. */
  maxOpenIncidents: number;
}

/**
 * An incident with the engine's bookkeeping, stored as one register (`i:<key>`), so an agent
 * that takes over finds the notification state with the incident.
 */
export interface IncidentRecord {
  incident: Incident;
  /** Clock time of the last notification; -1 until the first. */
  notifiedAtMs: number;
  /** Events attached since the last notification: `incident.eventCount - notifiedCount`, kept for readers. */
  pending: number;
  /** `eventCount` when last notified. Absent in records written before it existed (then derived from `pending`). */
  notifiedCount?: number;
  /**
   * For rules that count their groups' events in the store (`n:<key>`, shared by agents): that
   * count less this incident's events. The incident's count is then the shared count less this,
   * exact once agents have flushed, whichever agent saw which event.
   */
  baseline?: number;
  /**
   * A resolved counting incident's share of the group count, per cell of `n:` (one per agent):
   * each cell as the resolving agent saw it, raised by the cell's own agent to what it had
   * counted when it heard of the resolution. An agent's events until then are the incident's,
   * those after belong to what comes next. So the count is exact once every agent that counted
   * has heard of the resolution, whichever agent resolved it and however late its view was.
   */
  sealed?: Record<string, number>;
  /**
   * The cells whose agent sealed its own share of this resolution, on the record: the resolver's,
   * and any that raised its share on hearing of it. A restarted agent (whose memory of what it
   * heard is gone) must not seal again with what it counted since, which belongs to what comes
   * next. An agent that heard and had nothing to raise writes nothing, and remembers it in memory.
   */
  heardBy?: string[];
  /** Event time of the last status change (opened, reopened, resolved): the latest wins when agents' records merge. */
  statusAtMs?: number;
  /** The asset's parent (topology), from the event that opened it. */
  parent: string;
  /** Member → last state, for `member_by` rules. */
  members: Record<string, 'down' | 'up'>;
  /** The member that went down last (resolve policy `last`). */
  lastDown: string;
  flapping: boolean;
  /** The deadline escalation was sent. */
  escalated: boolean;
  /** Rule-specific: the spike's window index. */
  mark: number;
  /**
   * When the held notification of its resolution is due (0: none held). Absent in records
   * written before resolutions could be held.
   */
  resolveHeldUntilMs?: number;
  /**
   * The resolution time of the last resolution that was notified. An agent that resolved the
   * incident before it heard that another had notified it did not tell the resolution: the
   * merge of the two shows it untold, and it is told then.
   */
  resolutionToldMs?: number;
  /** When the assignee was last set (by the clock): the latest assignment wins when agents' records merge. */
  assignedAtMs?: number;
}

/** Open incidents never expire; resolved ones are kept a day, which bounds `reopen_window`. */
const RESOLVED_RETENTION_MS = 86_400_000;
const expiryOf = (inc: Incident): number =>
  inc.status === 'resolved' ? inc.resolvedAtMs + RESOLVED_RETENTION_MS : NEVER;
export const NEVER = Number.MAX_SAFE_INTEGER;
/**
 * `n:<key>`: a counter of the events a counting rule saw for the group, by every agent, one
 * cell per agent (`cellOf`); cell 0 holds what was counted before cells were per agent.
 */
const GROUP_EVENTS = 'n:';
const LAST_CELL = 2 ** 32;

const resolutionOf = (inc: Incident): string => `${inc.id}@${inc.resolvedAtMs}`;
/**
 * `sh:<key>#<cell>`: the time of the latest resolution on the key that the cell's agent heard of
 * with nothing to raise in its seal (a mark). It writes nothing to the record then (a write per
 * agent per resolution kept agents merging each other's records), yet a restarted agent, whose
 * memory of hearing is gone, must not seal that resolution again with what it counted since.
 */
const SEAL_HEARD = 'sh:';
/**
 * `ls:<key>`: the latest event time attached to the key's open incident, a high-water mark. An
 * attach that changes nothing else (a repeat of a counting rule's group once the sample is full)
 * raises this mark instead of rewriting the record: agents sharing state then ship a mark, not
 * the whole record that every other agent joined, and marks merge by maximum in any order. The
 * record's `lastSeenMs` is raised from it on every read of an open incident.
 */
const LAST_SEEN = 'ls:';
/**
 * `au:<key>#<id>`: the incident's audit trail, a grow-only set of its latest AUDIT_LIMIT entries
 * (`trailMember`). Each change adds its entry there, and the record travels to other agents
 * without its trail (`encode`): a flapping incident's record carried a hundred entries on every
 * change, which every other agent parsed and united with its own. Reads fill the record's trail
 * from the set whenever the set changed since.
 */
const AUDIT_TRAIL = 'au:';
const trailKey = (inc: Incident): string => `${AUDIT_TRAIL}${inc.key}#${inc.id}`;

/** An audit entry as a member of the trail's set: ordered by time (zero-padded) first, so the set keeps the latest. */
function trailMember(e: IncidentAuditEntry): string {
  const at = String(e.atMs).padStart(16, '0');
  return JSON.stringify(e.actor === undefined ? [at, e.kind, e.reason] : [at, e.kind, e.reason, e.actor]);
}

function trailEntry(member: string): IncidentAuditEntry {
  const [at, kind, reason, actor] = JSON.parse(member) as [string, IncidentAuditEntry['kind'], string, string?];
  return actor === undefined ? { atMs: Number(at), kind, reason } : { atMs: Number(at), kind, reason, actor };
}

/**
 * `sm:<key>#<id>`: the incident's sample of event ids, a grow-only set capped at the rule's
 * `sample_size` that keeps the earliest events (`sampleMember`). An attach that fills the sample
 * adds a member there instead of rewriting the record, which travels without its sample: a dedup
 * incident's record went to every other agent, which joined it, for each of its first events.
 */
const SAMPLE = 'sm:';
const sampleKey = (inc: Incident): string => `${SAMPLE}${inc.key}#${inc.id}`;
/** Digits of `Number.MAX_SAFE_INTEGER`: a sample member's time, counted down from it. */
const SAMPLE_TIME_DIGITS = 16;

/**
 * An event id as a member of the sample's set: its time counted down from the greatest integer,
 * zero-padded, first, so the set's greatest members (which it keeps) are the earliest events.
 */
function sampleMember(id: string, atMs: number): string {
  return `${String(Number.MAX_SAFE_INTEGER - atMs).padStart(SAMPLE_TIME_DIGITS, '0')} ${id}`;
}

/** The sample's event ids, earliest first, from its set's members (ascending: latest first). */
function sampleIds(members: readonly string[]): string[] {
  const ids = new Array<string>(members.length);
  for (let i = 0; i < members.length; i++) ids[members.length - 1 - i] = members[i]!.slice(SAMPLE_TIME_DIGITS + 1);
  return ids;
}

/**
 * The store keys of the sets holding an incident's audit trail and sample, and what their members
 * tell: for readers of a checkpoint's records, which leave both to their sets (`RegisterJoin.bare`).
 */
export const incidentSets = {
  trailKey,
  sampleKey,
  trail: (members: readonly string[]): IncidentAuditEntry[] => members.map(trailEntry),
  sample: sampleIds,
};

/**
 * A shallow view of a record with an empty trail and sample, for a join that leaves both to their
 * sets, and as the record travels to other agents and into checkpoints: both travel in their sets.
 */
function withoutTrail(rec: IncidentRecord): IncidentRecord {
  return { ...rec, incident: { ...rec.incident, audit: [], sampleEventIds: [] } };
}

/** An agent's cell of the group counts: its writer id hashed (FNV-1a) to 1..2^32, the same on every agent. */
function cellOf(writer: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < writer.length; i++) h = Math.imul(h ^ writer.charCodeAt(i), 0x01000193);
  return (h >>> 0) + 1;
}
/**
 * Index of the incidents whose resolution waits to be notified: `h:<key>` → when it is due, so
 * ticks need not read every incident. Incident state, not rule state: a rule change keeps it.
 */
const HELD = 'h:';
const STILL_RESOLVED = 'did not reopen: its held resolution is told';
/**
 * `max_open_incidents` bookkeeping, in the store so that it survives a restart and is shared by
 * agents: `no:<rule>` counts the rule's open incidents (+1 on open and reopen, -1 on resolve; a
 * counter, so concurrent agents' opens add up), `ov:<key>` marks a group held back and
 * `ovn:<rule>` counts those marks. Incident state, not rule state: a rule change keeps them.
 */
const OPEN_COUNT = 'no:';
const HELD_GROUP = 'ov:';
const HELD_GROUPS = 'ovn:';

/**
 * A resolved incident that someone was told of, whose resolution nobody was told (and none is
 * held back to be told later).
 */
function resolutionUntold(rec: IncidentRecord): boolean {
  const inc = rec.incident;
  if (inc.status !== 'resolved' || inc.suppressed || rec.notifiedAtMs < 0 || (rec.resolveHeldUntilMs ?? 0) > 0)
    return false;
  // Records from before the field: a notified resolution moved notifiedAtMs to it.
  const told = rec.resolutionToldMs ?? (rec.notifiedAtMs >= inc.resolvedAtMs ? inc.resolvedAtMs : -1);
  return told < inc.resolvedAtMs;
}

/** Nothing attached since the last notification: every event counted so far was told of. */
function caughtUp(rec: IncidentRecord): void {
  rec.notifiedCount = rec.incident.eventCount;
  rec.pending = 0;
}

/** The incident was told of at `atMs`, with every event counted so far. */
function notified(rec: IncidentRecord, atMs: number): void {
  rec.notifiedAtMs = atMs;
  caughtUp(rec);
}

/** Open again (by a rule's event or by hand): no longer resolved, nor acknowledged by whoever saw it before. */
function reopened(rec: IncidentRecord, atMs: number): void {
  const inc = rec.incident;
  inc.status = 'open';
  inc.resolvedAtMs = 0;
  delete rec.sealed;
  delete rec.heardBy;
  delete inc.acknowledgedAtMs;
  delete inc.acknowledgedBy;
  rec.statusAtMs = atMs;
}

/** A copy of the incident as it stands, for a change: later writes to the record do not reach it. */
function snapshot(inc: Incident): Incident {
  return {
    ...inc,
    labels: { ...inc.labels },
    sampleEventIds: inc.sampleEventIds.slice(),
    audit: inc.audit.slice(),
    ...(inc.mergedIds ? { mergedIds: inc.mergedIds.slice() } : {}),
  };
}

/**
 * The labels of the one incident that stands for a tenant's groups of `rule` held back by
 * max_open_incidents; `scope`: labels of the book's own (a partition's) added.
 */
function overflowLabels(tenant: string, scope: Readonly<Record<string, string>>): Record<string, string> {
  return tenant === '' ? { overflow: 'true', ...scope } : { overflow: 'true', ...scope, [TENANT_LABEL]: tenant };
}

/** The key of that incident. */
export function overflowKey(rule: string, tenant = '', scope: Readonly<Record<string, string>> = NO_SCOPE): string {
  return tenant === '' && scope === NO_SCOPE
    ? `${rule}{overflow="true"}`
    : formatIncidentKey(rule, overflowLabels(tenant, scope));
}

const NO_SCOPE: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Whether `key` is that incident's: a look for its label first, as building the key with a scope
 * (a partition's) sorts and joins its labels, which every opening and resolution would pay for.
 */
function isOverflowKey(key: string, rule: string, tenant: string, scope: Readonly<Record<string, string>>): boolean {
  return key.includes('overflow="true"') && key === overflowKey(rule, tenant, scope);
}

/**
 * What max_open_incidents counts together: a rule's incidents of one tenant, so that one tenant's
 * flood never holds back another's groups. The state keys of no tenant are those of before tenants.
 */
function limitScope(rule: string, tenant: string): string {
  return tenant === '' ? rule : formatIncidentKey(rule, { [TENANT_LABEL]: tenant });
}

/** The tenant of a group, as its labels carry it (every key of a tenant's events does). */
const tenantOf = (labels: Record<string, string>): string => labels[TENANT_LABEL] ?? '';
const CHANGE_EVENT_IDS = 20;

export interface OpenRequest {
  policy: IncidentPolicy;
  key: string;
  labels: Record<string, string>;
  /** Event time of the opening: with the key, it makes the incident id. */
  atMs: number;
  reason: string;
  /** Events folded in at opening (a threshold's window). */
  count: number;
  event?: VigilEvent;
  /** When the folded-in events began (a window's first bucket); default `atMs`. */
  firstSeenMs?: number;
  /** The rule counts the group's events with `countEvent` (this one's included): the incident's count follows that shared count. */
  counted?: boolean;
  parent?: string;
  title?: string;
}

export function incidentId(key: string, openedAtMs: number): string {
  return createHash('sha256').update(`${key}\n${openedAtMs}`).digest('hex').slice(0, 32);
}

/** A duration as config spells it: 90_000 → "1m30s", 3_600_000 → "1h". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let out = '';
  let rest = ms;
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}

/**
 * Incident lifecycle on top of the state store: open, attach, escalate, resolve, reopen,
 * suppress, and the notification timers (group_wait; group_interval, the least gap between two
 * notifications of one incident, which also holds back a resolve that may still reopen;
 * repeat_interval). Every change is appended to the incident's audit trail and returned as an
 * IncidentChange.
 */
export class IncidentBook {
  private readonly store: StateStore;
  /** Says what suppresses an incident ('' for nothing), consulted before its first notification. */
  suppressor: (rec: IncidentRecord) => string = () => '';
  /** The parent asset of an event's asset (topology), '' when unknown. */
  parentOf: (e: VigilEvent) => string = () => '';
  /** Counts an event whose group opened no incident because its rule was at max_open_incidents. */
  onHeldBack: (rule: string) => void = () => {};
  /**
   * Labels this book's overflow incidents carry beside `overflow` (a partition's: each partition of
   * the owners design counts its own share of the limit, and holds back on an incident of its own).
   */
  overflowScope: Readonly<Record<string, string>> = NO_SCOPE;

  /** Whether `inc` is this book's overflow incident of its rule and tenant. */
  isOverflow(inc: Incident): boolean {
    return isOverflowKey(inc.key, inc.rule, inc.tenant, this.overflowScope);
  }

  /** This agent's incidents that merged into another agent's, still to be told (see `drainMerges`). */
  private merges: { lost: IncidentRecord; into: string }[] = [];
  /**
   * Keys of incidents this agent attached events to after another agent had resolved them (it had
   * not heard yet): the merge keeps the resolution, and the rule looks again at what came after.
   */
  private revisits = new Set<string>();
  /** Keys of incidents whose merge shows a resolution nobody told of, though the incident was notified. */
  private untold = new Set<string>();
  /** Incident id → key, for the ids this agent wrote or looked up: finding one by id needs no scan. */
  private readonly keyOfId = new Map<string, string>();
  /** This agent's cell of the group counts. */
  private readonly ownCell: number;
  /** `ls:` marks raised since the last `completeCounts`, by whoever raised them. */
  private readonly changedSeen: RegisterWatch;
  /** Incident registers changed since the last `completeCounts`, by whoever changed them. */
  private readonly changedRecords: RegisterWatch;
  /**
   * Nothing but this book writes its store after the first step (`EngineOptions.soleWriter`):
   * `completeCounts` looks at what the store held then, and stops watching.
   */
  private readonly soleWriter: boolean;
  private watching = true;
  /** Key → the counting incident this agent last told storage of there: its resolution (-1: open) and count. */
  /** Key → the resolution (`id@resolvedAtMs`) this agent last heard of there: each is sealed once, when first heard of. */
  private readonly sealedHere = new Map<string, string>();
  private readonly toldCounts = new Map<string, { id: string; resolvedAtMs: number; count: number }>();
  /**
   * Incident key → its `ls:` mark's key, made once: every read of an open incident looks the mark
   * up, and building and hashing the key anew each time cost the engine several percent of its time.
   */
  private readonly lastSeenKeys = new Map<string, string>();
  /** Incident → the trail set its `audit` was filled from (or kept in step with): refilled when the set changed. */
  private readonly trails = new WeakMap<Incident, readonly string[]>();
  /**
   * Incident → the sample set its `sampleEventIds` was filled from (refilled when the set
   * changed), and the time of the latest event it keeps.
   */
  private readonly samples = new WeakMap<Incident, { members: readonly string[]; latestMs: number }>();
  /** Rule → its `sample_size`, as its policy said: the cap of the survivor's sample when twins merge. */
  private readonly sampleSizes = new Map<string, number>();

  constructor(store: StateStore, soleWriter = false) {
    this.store = store;
    this.soleWriter = soleWriter;
    this.ownCell = cellOf(store.writer);
    this.changedRecords = store.watchRegisters('i:');
    this.changedSeen = store.watchRegisters(LAST_SEEN);
    // A store that starts with state (a checkpoint, a snapshot) holds records as last written:
    // their last seen may be older than their marks, which only this agent's memory had raised.
    for (const markKey of store.keys(LAST_SEEN)) {
      const rec = store.read('i:' + markKey.slice(LAST_SEEN.length))?.value as unknown as IncidentRecord | undefined;
      if (rec) this.raiseSeen(rec);
    }
    store.joinRegisters('i:', {
      join: (mine, theirs, version) => {
        const m = mine as unknown as IncidentRecord;
        const t = theirs as unknown as IncidentRecord;
        // Trails are left out: they live in their sets, which twins unite below (decoding and
        // uniting both trails on every merge cost the receiving agent a tenth of its time).
        const joined = joinIncidentRecords(withoutTrail(m), withoutTrail(t), version);
        this.keepTrail(joined.incident, m.incident, t.incident);
        if (joined.incident.mergedIds?.includes(m.incident.id) && !(m.incident.mergedIds ?? []).includes(m.incident.id))
          this.merges.push({ lost: structuredClone(m), into: joined.incident.id });
        const ji = joined.incident;
        if (ji.status === 'resolved' && m.incident.status !== 'resolved' && m.incident.lastSeenMs > ji.resolvedAtMs)
          this.revisits.add(ji.key);
        if (resolutionUntold(joined)) this.untold.add(ji.key);
        return joined as unknown as StateValue;
      },
      same: (a, b) => sameRecord(a as unknown as IncidentRecord, b as unknown as IncidentRecord),
      expiresAt: (value) => expiryOf((value as unknown as IncidentRecord).incident),
      bare: (value) => withoutTrail(value as unknown as IncidentRecord) as unknown as StateValue,
    });
  }

  get(key: string): IncidentRecord | undefined {
    return this.recordAt('i:' + key);
  }

  /**
   * The record under its store key (`i:<key>`) brought up to date if it is open; undefined if it
   * is resolved (left as stored) or gone: for the timers' scan over `keys('i:')`.
   */
  openRecordAt(storeKey: string): IncidentRecord | undefined {
    const rec = this.store.read(storeKey)?.value as unknown as IncidentRecord | undefined;
    if (rec === undefined || rec.incident.status === 'resolved') return undefined;
    this.materialize(rec);
    return rec;
  }

  /** The record under its store key (`i:<key>`), brought up to date: for scans over `keys('i:')`. */
  recordAt(storeKey: string): IncidentRecord | undefined {
    const rec = this.store.read(storeKey)?.value as unknown as IncidentRecord | undefined;
    if (rec) this.materialize(rec);
    return rec;
  }

  /**
   * Brings the derived fields of a record up to date: the count of a counting rule's incident
   * from the shared group count (other agents' events included), and `pending` from it.
   */
  private materialize(rec: IncidentRecord): void {
    const inc = rec.incident;
    rec.notifiedCount ??= inc.eventCount - rec.pending;
    if (rec.baseline !== undefined && (inc.status !== 'resolved' || rec.sealed !== undefined)) {
      let n = -rec.baseline;
      if (inc.status !== 'resolved') n += this.groupCount(inc.key);
      else for (const cell in rec.sealed) n += rec.sealed[cell]!;
      if (n > inc.eventCount) inc.eventCount = n;
    }
    rec.pending = Math.max(0, inc.eventCount - rec.notifiedCount);
  }

  /**
   * The record as `get` gives it, with its audit trail filled in too: for readers that show the
   * trail (the operators' API). The engine's own reads leave it be: only a change's snapshot
   * needs it, and looking up the trail's set on every read cost the engine a tenth of its time.
   */
  withTrail(key: string): IncidentRecord | undefined {
    const rec = this.get(key);
    if (rec) {
      this.fillTrail(rec.incident);
      this.fillSample(rec.incident);
      this.raiseSeen(rec);
    }
    return rec;
  }

  /**
   * Raises an open incident's last seen to its `ls:` mark: for each mark and record that changed
   * (`completeCounts`, before each step), not on every read, which cost the engine a tenth of its
   * time. This agent's own attaches raise the record's last seen as they go.
   */
  private raiseSeen(rec: IncidentRecord): void {
    const inc = rec.incident;
    if (inc.status === 'resolved') return;
    // Marks from before the latest (re)opening are not this opening's; its own start at or after it.
    const seen = this.store.readMax(this.lastSeenKey(inc.key));
    if (seen !== undefined && seen > inc.lastSeenMs && seen >= statusAtOf(rec)) inc.lastSeenMs = seen;
  }

  /** Fills the incident's trail from its set when the set changed since it was last filled. */
  private fillTrail(inc: Incident, key = trailKey(inc)): void {
    const trail = this.store.readSet(key);
    if (trail === undefined) {
      inc.audit ??= [];
      return;
    }
    if (this.trails.get(inc) === trail) return;
    inc.audit = trail.map(trailEntry);
    this.trails.set(inc, trail);
  }

  /** Fills the incident's sample from its set when the set changed since it was last filled. */
  private fillSample(inc: Incident): void {
    const members = this.store.readSet(sampleKey(inc));
    if (members === undefined || members.length === 0 || this.samples.get(inc)?.members === members) return;
    inc.sampleEventIds = sampleIds(members);
    const latestMs = Number.MAX_SAFE_INTEGER - Number(members[0]!.slice(0, SAMPLE_TIME_DIGITS));
    this.samples.set(inc, { members, latestMs });
  }

  /**
   * Adds an event to the incident's sample while it is not full, or when it came before the
   * latest event the sample keeps (which the set then drops), as far as this agent has heard:
   * agents that each saw some of the earliest events end with those, as one agent that saw them
   * all does.
   */
  private addSample(inc: Incident, id: string, atMs: number, size: number): void {
    // The common case, told without a look-up: full, and later than all it keeps (which only grows earlier).
    if (inc.sampleEventIds.length >= size && atMs > (this.samples.get(inc)?.latestMs ?? Number.NEGATIVE_INFINITY))
      return;
    this.fillSample(inc);
    const member = sampleMember(id, atMs);
    const kept = this.samples.get(inc)?.members;
    if (inc.sampleEventIds.length >= size && (kept === undefined || !(member > kept[0]!))) return;
    this.store.addToSet(sampleKey(inc), member, size, atMs + RESOLVED_RETENTION_MS);
    this.fillSample(inc);
  }

  /** A resolved incident's sample is kept as long as its record is (a set's expiry only grows). */
  private keepSample(inc: Incident, size: number): void {
    const first = this.store.readSet(sampleKey(inc))?.[0];
    if (first !== undefined && size > 0)
      this.store.addToSet(sampleKey(inc), first, size, inc.resolvedAtMs + RESOLVED_RETENTION_MS);
  }

  /**
   * After a join (of records without their trails): twins' trails go into the survivor's set,
   * with the entry the join adds to say so; the joined record's trail is filled from its set
   * when a change or a reader needs it.
   */
  private keepTrail(joined: Incident, a: Incident, b: Incident): void {
    const added = joined.audit;
    joined.audit = [];
    const lost = a.id === joined.id ? b : a;
    // One incident's two copies, or the next incident on the key winning whole over a past one.
    if (lost.id === joined.id || !joined.mergedIds?.includes(lost.id)) return;
    const key = trailKey(joined);
    const expiresAtMs = joined.updatedAtMs + RESOLVED_RETENTION_MS;
    for (const member of this.store.readSet(trailKey(lost)) ?? [])
      this.store.addToSet(key, member, AUDIT_LIMIT, expiresAtMs);
    for (const e of added) this.store.addToSet(key, trailMember(e), AUDIT_LIMIT, expiresAtMs);
    const lostSample = this.store.readSet(sampleKey(lost)) ?? [];
    const size = Math.max(
      this.sampleSizes.get(joined.rule) ?? 0,
      lostSample.length,
      this.store.readSet(sampleKey(joined))?.length ?? 0,
    );
    for (const member of lostSample) this.store.addToSet(sampleKey(joined), member, size, expiresAtMs);
  }

  private lastSeenKey(key: string): string {
    let mark = this.lastSeenKeys.get(key);
    if (mark === undefined) this.lastSeenKeys.set(key, (mark = LAST_SEEN + key));
    return mark;
  }

  /** The group's count by every agent, as far as this agent has heard. */
  private groupCount(key: string): number {
    return this.store.sumCounts(GROUP_EVENTS + key, 0, LAST_CELL);
  }

  /** The group count's cells as this agent sees them, for a resolution's seal. */
  private seal(key: string): Record<string, number> {
    const sealed: Record<string, number> = {};
    for (const [cell, n] of this.store.counterCells(GROUP_EVENTS + key)) sealed[cell] = n;
    return sealed;
  }

  private noteTold(rec: IncidentRecord): void {
    const inc = rec.incident;
    const resolvedAtMs = inc.status === 'resolved' ? inc.resolvedAtMs : -1;
    this.toldCounts.set(inc.key, { id: inc.id, resolvedAtMs, count: inc.eventCount });
  }

  /** What this agent has counted of the group so far. */
  private ownCount(key: string): number {
    return this.store.sumCounts(GROUP_EVENTS + key, this.ownCell, this.ownCell);
  }

  /**
   * Raises the seal of this agent's cell on each resolution it hears of where the resolving
   * agent saw less of it (its writes had not arrived), and tells storage of a count it told
   * short once other agents' seals raised it (an `updated` change, no notification): storage
   * writes incidents on change, and a merge is none.
   */
  completeCounts(nowMs: number, out: IncidentChange[]): void {
    if (!this.watching) return;
    if (this.soleWriter) {
      // What the store holds now (a durable store's restore happens after the book is made) is
      // looked at once; from now on every write is this book's own, which raises as it goes.
      this.watching = false;
      this.changedRecords.close();
      this.changedSeen.close();
    }
    const changedRecords = this.changedRecords.take();
    for (const markKey of this.changedSeen.take()) {
      const storeKey = 'i:' + markKey.slice(LAST_SEEN.length);
      // Raised below with the other changed records: nothing in between writes a mark.
      if (changedRecords.has(storeKey)) continue;
      const rec = this.store.read(storeKey)?.value as unknown as IncidentRecord | undefined;
      if (rec) this.raiseSeen(rec);
    }
    for (const storeKey of changedRecords) {
      const rec = this.store.read(storeKey)?.value as unknown as IncidentRecord | undefined;
      if (rec) this.raiseSeen(rec);
      if (rec?.baseline === undefined || rec.sealed === undefined || rec.incident.status !== 'resolved') continue;
      const inc = rec.incident;
      const before = inc.eventCount;
      let seal = false;
      const cell = String(this.ownCell);
      const heardKey = `${SEAL_HEARD}${inc.key}#${cell}`;
      if (
        this.sealedHere.get(inc.key) !== resolutionOf(inc) &&
        !rec.heardBy?.includes(cell) &&
        !((this.store.readMax(heardKey) ?? -1) >= inc.resolvedAtMs)
      ) {
        // Heard of just now, before this step counts anything: all this agent counted came before.
        this.sealedHere.set(inc.key, resolutionOf(inc));
        const own = this.ownCount(inc.key);
        seal = own > (rec.sealed[cell] ?? 0);
        if (seal) {
          rec.sealed = { ...rec.sealed, [cell]: own };
          rec.heardBy = [...(rec.heardBy ?? []), cell];
        } else this.store.raise(heardKey, inc.resolvedAtMs, expiryOf(inc));
      }
      this.materialize(rec);
      const told = this.toldCounts.get(inc.key);
      // Told short by this agent; whoever told only the opening leaves the resolution to its teller.
      if (told?.id === inc.id && told.resolvedAtMs === inc.resolvedAtMs && inc.eventCount > told.count)
        this.emit(
          rec,
          'updated',
          `${inc.eventCount - told.count} event(s) counted by other agents before they heard of the resolution: ${inc.eventCount} in all`,
          nowMs,
          false,
          undefined,
          out,
        );
      else if (seal || inc.eventCount > before) this.save(rec);
    }
  }

  /**
   * Counts an event of a group in the shared group count: rules whose incidents count their
   * group's events (`counted` in `open`) call it for every such event, before opening or attaching.
   */
  countEvent(key: string, atMs: number, n = 1): void {
    this.store.addCount(GROUP_EVENTS + key, this.ownCell, n, atMs + RESOLVED_RETENTION_MS);
  }

  /**
   * Opens an incident, reopens a recently resolved one, or attaches to the open one. Undefined
   * when the rule is at `max_open_incidents`: the group is held back and counted on the rule's
   * overflow incident instead.
   */
  open(req: OpenRequest, out: IncidentChange[]): IncidentRecord | undefined {
    const { policy, atMs } = req;
    const existing = this.get(req.key);
    if (existing && existing.incident.status !== 'resolved') {
      this.attach(existing, policy, req.event, atMs, req.count, out);
      return existing;
    }
    const reopens =
      existing !== undefined &&
      atMs - existing.incident.resolvedAtMs <= policy.reopenWindowMs &&
      atMs >= existing.incident.resolvedAtMs;
    // A held resolution this event comes after, or that a new incident would overwrite, is told
    // first, dated when it fell due, as the tick would have told it (timers settle on event time).
    const heldUntilMs = existing?.resolveHeldUntilMs ?? 0;
    if (existing && heldUntilMs > 0 && (!reopens || atMs >= heldUntilMs))
      this.notifyHeld(existing, atMs, STILL_RESOLVED, out);
    const tenant = tenantOf(req.labels);
    const counted = !isOverflowKey(req.key, policy.rule, tenant, this.overflowScope);
    if (counted && policy.maxOpenIncidents > 0 && this.openCount(policy.rule, tenant) >= policy.maxOpenIncidents) {
      this.holdBack(req, tenant, out);
      return undefined;
    }
    if (counted) this.store.addCount(OPEN_COUNT + limitScope(policy.rule, tenant), 0, 1, NEVER);
    if (existing && reopens) {
      const inc = existing.incident;
      reopened(existing, atMs);
      existing.escalated = false;
      // The reopening's events count on top of the earlier ones; the shared count takes over after.
      delete existing.baseline;
      this.fold(existing, policy, req.event, atMs, req.count);
      this.rebase(existing, req);
      caughtUp(existing);
      const by = this.suppressor(existing);
      inc.suppressed = by !== '';
      inc.suppressedBy = by;
      // Whoever was told of the resolution must hear of the reopening at once; whoever was not
      // still believes it open, so a flap within group_interval stays silent.
      const held = (existing.resolveHeldUntilMs ?? 0) > 0;
      if (held) this.releaseHold(existing, existing.incident.version + 1);
      const notify = !inc.suppressed && existing.notifiedAtMs >= 0 && !held;
      if (notify) existing.notifiedAtMs = atMs;
      const within = `reopened within reopen_window ${formatDuration(policy.reopenWindowMs)}`;
      this.emit(
        existing,
        'reopened',
        `${req.reason}; ${held ? `${within}, before its resolution was notified` : within}`,
        atMs,
        notify,
        req.event,
        out,
      );
      return existing;
    }
    const e = req.event;
    const incident: Incident = {
      key: req.key,
      id: incidentId(req.key, atMs),
      rule: policy.rule,
      ruleKind: policy.kind,
      labels: req.labels,
      title: req.title ?? policy.title ?? (e?.title || `${policy.kind} ${req.key}`),
      status: 'open',
      severityNumber: e && e.severityNumber > 0 ? e.severityNumber : SeverityNumber.ERROR,
      severityText: e && e.severityNumber > 0 ? e.severityText || 'ERROR' : 'ERROR',
      suppressed: false,
      suppressedBy: '',
      openedAtMs: atMs,
      updatedAtMs: atMs,
      resolvedAtMs: 0,
      firstSeenMs: Math.min(req.firstSeenMs ?? atMs, atMs),
      lastSeenMs: atMs,
      eventCount: req.count,
      sampleEventIds: [],
      lastEventType: e?.type ?? 'neutral',
      // A timer's opening (absence, a window closing) has no event: the key's tenant label names it.
      tenant: e?.tenant ?? req.labels[TENANT_LABEL] ?? '',
      asset: e?.asset || req.labels.asset || '',
      service: e?.service || req.labels.service || '',
      // The register of a resolved predecessor holds a higher version; the new one must win over it.
      version: existing?.incident.version ?? 0,
      audit: [],
    };
    const rec: IncidentRecord = {
      incident,
      notifiedAtMs: -1,
      pending: 0,
      notifiedCount: req.count,
      statusAtMs: atMs,
      parent: req.parent ?? (e ? this.parentOf(e) : ''),
      members: {},
      lastDown: '',
      flapping: false,
      escalated: false,
      mark: 0,
      resolveHeldUntilMs: 0,
    };
    this.rebase(rec, req);
    if (e) this.sampleEvent(incident, policy, e, atMs);
    const by = this.suppressor(rec);
    incident.suppressed = by !== '';
    incident.suppressedBy = by;
    const notify = policy.groupWaitMs === 0 && !incident.suppressed;
    if (notify) rec.notifiedAtMs = atMs;
    const held = by
      ? `; suppressed by ${by}`
      : notify
        ? ''
        : `; first notification after group_wait ${formatDuration(policy.groupWaitMs)}`;
    this.emit(rec, 'opened', req.reason + held, atMs, notify, e, out);
    out[out.length - 1]!.created = true;
    return rec;
  }

  /**
   * Folds a matching event into an open incident; a higher severity escalates it at once.
   * `changed`: the caller changed the record's own fields (members, a rule's mark, the title)
   * before, so it is written even when the event itself moves only its last seen.
   */
  attach(
    rec: IncidentRecord,
    policy: IncidentPolicy,
    event: VigilEvent | undefined,
    atMs: number,
    count: number,
    out: IncidentChange[],
    changed = false,
  ): void {
    const inc = rec.incident;
    const before = inc.severityNumber;
    const { lastSeenMs, firstSeenMs, lastEventType, asset } = inc;
    this.fold(rec, policy, event, atMs, count);
    if (inc.lastSeenMs > lastSeenMs)
      this.store.raise(this.lastSeenKey(inc.key), inc.lastSeenMs, atMs + RESOLVED_RETENTION_MS);
    if (event && event.severityNumber > before) {
      inc.severityNumber = event.severityNumber;
      inc.severityText = event.severityText || inc.severityText;
      const notify = !inc.suppressed && rec.notifiedAtMs >= 0;
      this.emit(
        rec,
        'escalated',
        `severity raised to ${inc.severityText} (${inc.severityNumber})`,
        atMs,
        notify,
        event,
        out,
      );
      return;
    }
    // Only the last seen moved (the count follows the shared group count, the sample its set): the mark above says it.
    const onlySeen =
      !changed &&
      rec.baseline !== undefined &&
      inc.firstSeenMs === firstSeenMs &&
      inc.lastEventType === lastEventType &&
      inc.asset === asset;
    if (!onlySeen) this.save(rec);
  }

  /** A counting rule's incident (re)opened with `eventCount` events: its count follows the shared group count from here. */
  private rebase(rec: IncidentRecord, req: OpenRequest): void {
    if (req.counted) rec.baseline = this.groupCount(req.key) - rec.incident.eventCount;
  }

  private fold(
    rec: IncidentRecord,
    policy: IncidentPolicy,
    event: VigilEvent | undefined,
    atMs: number,
    count: number,
  ): void {
    const inc = rec.incident;
    // A counting rule's events are in the shared count already, with those of other agents that
    // had not heard of the incident yet.
    if (rec.baseline === undefined) inc.eventCount += count;
    this.materialize(rec);
    if (atMs > inc.lastSeenMs) inc.lastSeenMs = atMs;
    if (atMs < inc.firstSeenMs) inc.firstSeenMs = atMs;
    if (!event) return;
    inc.lastEventType = event.type;
    if (event.asset && !inc.asset) inc.asset = event.asset;
    this.sampleEvent(inc, policy, event, atMs);
  }

  private sampleEvent(inc: Incident, policy: IncidentPolicy, event: VigilEvent, atMs: number): void {
    if (policy.sampleSize <= 0) return;
    if (this.sampleSizes.get(policy.rule) !== policy.sampleSize) this.sampleSizes.set(policy.rule, policy.sampleSize);
    this.addSample(inc, event.id, atMs, policy.sampleSize);
  }

  resolve(
    rec: IncidentRecord,
    policy: IncidentPolicy,
    atMs: number,
    reason: string,
    event: VigilEvent | undefined,
    out: IncidentChange[],
    actor?: string,
  ): void {
    const inc = rec.incident;
    if (inc.status === 'resolved') return;
    // Never below zero: incidents opened before the count existed resolve too.
    if (!this.isOverflow(inc) && this.openCount(inc.rule, inc.tenant) > 0)
      this.store.addCount(OPEN_COUNT + limitScope(inc.rule, inc.tenant), 0, -1, NEVER);
    if (event) this.fold(rec, policy, event, atMs, 1);
    else this.materialize(rec);
    inc.status = 'resolved';
    inc.resolvedAtMs = atMs;
    this.keepSample(inc, policy.sampleSize);
    // Other agents' events still on their way count once those agents hear of it (completeCounts).
    if (rec.baseline !== undefined) {
      rec.sealed = this.seal(inc.key);
      rec.heardBy = [String(this.ownCell)];
      this.sealedHere.set(inc.key, resolutionOf(inc));
    }
    rec.statusAtMs = atMs;
    // Only an incident someone was told about needs its resolution told.
    if (rec.notifiedAtMs < 0 || inc.suppressed) {
      this.emit(rec, 'resolved', `${reason} (never notified)`, atMs, false, event, out, false, actor);
      return;
    }
    // group_interval is the least gap between two notifications of one incident. A resolution
    // that comes sooner waits for it while the incident may still reopen, so a flap does not
    // notify a resolve and a reopen; with no reopen possible there is nothing to wait for.
    const byGroupInterval = rec.notifiedAtMs + policy.groupIntervalMs;
    const byReopenWindow = atMs + policy.reopenWindowMs;
    const dueMs = Math.min(byGroupInterval, byReopenWindow);
    if (atMs >= dueMs) {
      rec.notifiedAtMs = atMs;
      this.emit(rec, 'resolved', reason, atMs, true, event, out, false, actor);
      return;
    }
    rec.resolveHeldUntilMs = dueMs;
    // Versioned as the save in `emit` below will be, so a later release (a higher version) deletes it.
    this.store.write(HELD + inc.key, dueMs, inc.version + 1, inc.resolvedAtMs + RESOLVED_RETENTION_MS);
    const until =
      byGroupInterval <= byReopenWindow
        ? `until group_interval ${formatDuration(policy.groupIntervalMs)} after the last one`
        : `until reopen_window ${formatDuration(policy.reopenWindowMs)} has passed`;
    this.emit(
      rec,
      'resolved',
      `${reason}; notification held ${until}, in case it reopens`,
      atMs,
      false,
      event,
      out,
      true,
    );
  }

  /** Open incidents of `rule` and `tenant` as counted for max_open_incidents (its overflow incident aside). */
  openCount(rule: string, tenant = ''): number {
    return this.store.sumCounts(OPEN_COUNT + limitScope(rule, tenant), 0, 0);
  }

  /**
   * A group of a rule at max_open_incidents: no incident of its own, and no notification per
   * group. The rule's one overflow incident counts the events and, in its title, the distinct
   * groups held back; its updates go out once per group_interval like any other incident's.
   */
  private holdBack(req: OpenRequest, tenant: string, out: IncidentChange[]): void {
    const { policy, atMs } = req;
    const rule = policy.rule;
    const scope = limitScope(rule, tenant);
    this.onHeldBack(rule);
    let groups = this.store.sumCounts(HELD_GROUPS + scope, 0, 0);
    if (this.store.read(HELD_GROUP + req.key) === undefined) {
      this.store.write(HELD_GROUP + req.key, atMs, atMs, NEVER);
      groups = this.store.addCount(HELD_GROUPS + scope, 0, 1, NEVER);
    }
    const title = `${groups} incidents of rule ${rule} held back: max_open_incidents ${policy.maxOpenIncidents} reached`;
    const key = overflowKey(rule, tenant, this.overflowScope);
    // Counted in the overflow incident's group count, as rules count their groups' events: agents
    // sharing state add up, and a group held back again moves only that count and the last seen.
    this.countEvent(key, atMs);
    const rec = this.get(key);
    // No event of one held-back group speaks for the overflow incident: neither its asset nor its topology parent.
    if (rec && rec.incident.status !== 'resolved') {
      const retitled = rec.incident.title !== title;
      rec.incident.title = title;
      this.attach(rec, policy, undefined, atMs, 1, out, retitled);
      return;
    }
    this.open(
      {
        policy,
        key,
        labels: overflowLabels(tenant, this.overflowScope),
        atMs,
        count: 1,
        counted: true,
        title,
        reason: `max_open_incidents ${policy.maxOpenIncidents} reached: ${req.key} and any further new group held back`,
      },
      out,
    );
  }

  /** Resolves the overflow incident once its rule is back under max_open_incidents, and forgets the groups it held back. */
  settleOverflow(rec: IncidentRecord, policy: IncidentPolicy, nowMs: number, out: IncidentChange[]): void {
    const { rule, tenant } = rec.incident;
    const scope = limitScope(rule, tenant);
    const open = this.openCount(rule, tenant);
    if (policy.maxOpenIncidents > 0 && open >= policy.maxOpenIncidents) return;
    const groups = this.store.sumCounts(HELD_GROUPS + scope, 0, 0);
    this.resolve(
      rec,
      policy,
      nowMs,
      `rule ${rule} is back under max_open_incidents ${policy.maxOpenIncidents} (${open} open); ${groups} group(s) were held back`,
      undefined,
      out,
    );
    for (const k of [...this.store.keys(HELD_GROUP + rule + '{')]) {
      const labels = parseIncidentKey(k.slice(HELD_GROUP.length))?.labels;
      if (labels && tenantOf(labels) === tenant) this.store.delete(k, nowMs);
    }
    this.store.delete(HELD_GROUPS + scope, nowMs);
  }

  /** Keys of the incidents whose resolution is held back, this agent's and others'. */
  heldKeys(): string[] {
    return [...this.store.keys(HELD)].map((k) => k.slice(HELD.length));
  }

  /** Tells the resolutions held back by `resolve` whose time has come; drops index entries of those that reopened. */
  notifyHeldResolves(nowMs: number, out: IncidentChange[]): void {
    for (const key of this.heldKeys()) {
      // Read as stored: what decides here is not what bringing it up to date (`get`) changes.
      const stored = this.store.read('i:' + key)?.value as unknown as IncidentRecord | undefined;
      // A record gone from the store took its resolution with it; the index entry expires with it.
      if (!stored) continue;
      const dueMs = stored.resolveHeldUntilMs ?? 0;
      if (dueMs === 0 || stored.incident.status !== 'resolved') {
        // Reopened (perhaps by another agent) or released already: only the index entry is stale.
        this.store.delete(HELD + key, stored.incident.version + 1);
        continue;
      }
      if (nowMs >= dueMs) this.notifyHeld(this.get(key)!, nowMs, STILL_RESOLVED, out);
    }
  }

  /**
   * Tells the held resolution of `rec` now: dated when it fell due, or at `atMs` if that is
   * sooner (a rule removed on reload), and never before the resolution itself.
   */
  notifyHeld(rec: IncidentRecord, atMs: number, reason: string, out: IncidentChange[]): void {
    const dueMs = rec.resolveHeldUntilMs ?? 0;
    if (dueMs === 0 || rec.incident.status !== 'resolved') return;
    const at = Math.max(rec.incident.resolvedAtMs, Math.min(dueMs, atMs));
    this.releaseHold(rec, rec.incident.version + 1);
    rec.notifiedAtMs = at;
    this.emit(
      rec,
      'resolved',
      `${reason} (resolved at ${new Date(rec.incident.resolvedAtMs).toISOString()})`,
      at,
      true,
      undefined,
      out,
    );
  }

  private releaseHold(rec: IncidentRecord, version: number): void {
    rec.resolveHeldUntilMs = 0;
    this.store.delete(HELD + rec.incident.key, version);
  }

  /** An `updated` or `escalated` change outside the notification timers (flapping, deadline). */
  announce(
    rec: IncidentRecord,
    kind: 'updated' | 'escalated',
    reason: string,
    atMs: number,
    out: IncidentChange[],
  ): void {
    const notify = !rec.incident.suppressed && rec.notifiedAtMs >= 0;
    if (notify) notified(rec, atMs);
    this.emit(rec, kind, reason, atMs, notify, undefined, out);
  }

  setSuppression(rec: IncidentRecord, by: string, atMs: number, out: IncidentChange[]): void {
    const inc = rec.incident;
    if (inc.suppressedBy === by) return;
    if (by) {
      inc.suppressed = true;
      inc.suppressedBy = by;
      this.emit(rec, 'suppressed', `suppressed by ${by}`, atMs, false, undefined, out);
    } else {
      const was = inc.suppressedBy;
      inc.suppressed = false;
      inc.suppressedBy = '';
      // Unsuppressed and already past group_wait: this is its first notification.
      const notify = rec.notifiedAtMs >= 0;
      this.emit(rec, 'unsuppressed', `${was} no longer applies`, atMs, notify, undefined, out);
    }
  }

  /** Sends what the notification timers owe: the first notification, batched updates, repeats. */
  notifyDue(rec: IncidentRecord, policy: IncidentPolicy, nowMs: number, out: IncidentChange[]): void {
    const inc = rec.incident;
    if (inc.status === 'resolved' || inc.suppressed) return;
    if (rec.notifiedAtMs < 0) {
      if (nowMs >= inc.openedAtMs + policy.groupWaitMs) {
        notified(rec, nowMs);
        this.emit(
          rec,
          'opened',
          `group_wait ${formatDuration(policy.groupWaitMs)} elapsed: first notification (${inc.eventCount} event(s))`,
          nowMs,
          true,
          undefined,
          out,
        );
      }
      return;
    }
    if (rec.pending > 0 && nowMs >= rec.notifiedAtMs + policy.groupIntervalMs) {
      const n = rec.pending;
      notified(rec, nowMs);
      this.emit(
        rec,
        'updated',
        `group_interval ${formatDuration(policy.groupIntervalMs)}: ${n} new event(s), ${inc.eventCount} in all`,
        nowMs,
        true,
        undefined,
        out,
      );
      return;
    }
    // Someone works on it: no reminder that it is still open.
    if (inc.status !== 'acknowledged' && nowMs >= rec.notifiedAtMs + policy.repeatIntervalMs) {
      rec.notifiedAtMs = nowMs;
      this.emit(
        rec,
        'updated',
        `repeat_interval ${formatDuration(policy.repeatIntervalMs)}: still open`,
        nowMs,
        true,
        undefined,
        out,
      );
    }
  }

  private emit(
    rec: IncidentRecord,
    kind: IncidentChangeKind,
    reason: string,
    atMs: number,
    notify: boolean,
    event: VigilEvent | undefined,
    out: IncidentChange[],
    held = false,
    actor?: string,
  ): void {
    const inc = rec.incident;
    inc.updatedAtMs = atMs;
    if (kind === 'resolved' && notify) rec.resolutionToldMs = inc.resolvedAtMs;
    if (rec.baseline !== undefined) this.noteTold(rec);
    const entry: IncidentAuditEntry = actor === undefined ? { atMs, kind, reason } : { atMs, kind, reason, actor };
    const trail = trailKey(inc);
    // In step with its set first (another agent's entries), so the change's snapshot has them all.
    this.fillTrail(inc, trail);
    this.fillSample(inc);
    inc.audit.push(entry);
    if (inc.audit.length > AUDIT_LIMIT) inc.audit.splice(0, inc.audit.length - AUDIT_LIMIT);
    this.store.addToSet(trail, trailMember(entry), AUDIT_LIMIT, atMs + RESOLVED_RETENTION_MS);
    // The entry is in both: the trail stays in step with its set.
    this.trails.set(inc, this.store.readSet(trail)!);
    this.save(rec);
    out.push({
      kind,
      reason,
      atMs,
      notify,
      ...(held ? { held: true as const } : {}),
      incident: snapshot(inc),
      eventIds: event ? [event.id] : inc.sampleEventIds.slice(-CHANGE_EVENT_IDS),
      ...(actor === undefined ? {} : { actor }),
    });
  }

  /**
   * Tells storage of this agent's incidents that merged into another agent's twin: the merged
   * one's last change (`mergedInto`, status resolved, so no query keeps a dead id open) and the
   * survivor as it now stands (`mergedIds`). Neither notifies: whoever was told holds the
   * survivor's key, which every later notification carries. Returns the pairs it told.
   */
  drainMerges(nowMs: number, out: IncidentChange[]): { lost: string; into: string }[] {
    if (this.merges.length === 0) return [];
    const told: { lost: string; into: string }[] = [];
    for (const { lost, into } of this.merges.splice(0)) {
      const rec = this.get(lost.incident.key);
      const survivor = rec && rec.incident.id === into ? rec.incident : undefined;
      // The ids merged into the lost one earlier go with it: every dead id points at the living one.
      for (const id of [lost.incident.id, ...(lost.incident.mergedIds ?? [])]) {
        const dead = structuredClone(lost.incident);
        const reason = `merged into incident ${into}, which another agent opened for the same key`;
        dead.id = id;
        delete dead.mergedIds;
        dead.version = Math.max(dead.version, survivor?.version ?? 0) + 1;
        dead.status = 'resolved';
        dead.resolvedAtMs = nowMs;
        dead.updatedAtMs = nowMs;
        dead.mergedInto = into;
        dead.audit.push({ atMs: nowMs, kind: 'resolved', reason });
        if (dead.audit.length > AUDIT_LIMIT) dead.audit.splice(0, dead.audit.length - AUDIT_LIMIT);
        out.push({ kind: 'resolved', reason, atMs: nowMs, notify: false, incident: dead, eventIds: [] });
        told.push({ lost: id, into });
      }
      if (survivor) {
        this.fillTrail(survivor);
        this.fillSample(survivor);
        if (rec!.baseline !== undefined) this.noteTold(rec!);
        out.push({
          kind: 'updated',
          reason: `merged incident ${lost.incident.id} into this one`,
          atMs: nowMs,
          notify: false,
          incident: snapshot(survivor),
          eventIds: [],
        });
      }
    }
    return told;
  }

  /**
   * Tells the resolutions that merges showed untold (see `resolutionToldMs`), dated when they
   * happened. Another agent may tell the same one; the shared state lets only one notification out.
   */
  tellUntoldResolutions(out: IncidentChange[]): void {
    if (this.untold.size === 0) return;
    for (const key of this.untold) {
      const rec = this.get(key);
      if (!rec || !resolutionUntold(rec)) continue;
      rec.notifiedAtMs = Math.max(rec.notifiedAtMs, rec.incident.resolvedAtMs);
      this.emit(
        rec,
        'resolved',
        `resolved at ${new Date(rec.incident.resolvedAtMs).toISOString()} by an agent that had not yet heard it was notified: told now`,
        rec.incident.resolvedAtMs,
        true,
        undefined,
        out,
      );
    }
    this.untold.clear();
  }

  /** Keys to look at again (see `revisits`), each once. */
  takeRevisits(): string[] {
    if (this.revisits.size === 0) return [];
    const keys = [...this.revisits];
    this.revisits.clear();
    return keys;
  }

  /**
   * A person acknowledged the incident: someone works on it. It stays open to its rule (events
   * attach, escalate and resolve it as before); only the repeat_interval reminders stop. Told to
   * whoever was told of the incident.
   */
  acknowledge(rec: IncidentRecord, actor: string, reason: string, atMs: number, out: IncidentChange[]): void {
    const inc = rec.incident;
    inc.status = 'acknowledged';
    inc.acknowledgedAtMs = atMs;
    inc.acknowledgedBy = actor;
    this.emit(rec, 'acknowledged', reason, atMs, this.told(rec), undefined, out, false, actor);
  }

  /** A person's comment, kept in the audit trail and told to whoever was told of the incident. */
  /** `ticket`: the tracker ticket the comment was read back from, if it was. */
  comment(
    rec: IncidentRecord,
    actor: string,
    text: string,
    atMs: number,
    out: IncidentChange[],
    ticket?: string,
  ): void {
    this.emit(rec, 'commented', text, atMs, this.told(rec), undefined, out, false, actor);
    if (ticket !== undefined) out.at(-1)!.ticket = ticket;
  }

  /** Who works on it ('' for nobody). */
  assign(
    rec: IncidentRecord,
    actor: string,
    assignee: string,
    reason: string,
    atMs: number,
    out: IncidentChange[],
  ): void {
    rec.incident.assignee = assignee;
    rec.assignedAtMs = atMs;
    this.emit(rec, 'assigned', reason, atMs, this.told(rec), undefined, out, false, actor);
  }

  /**
   * Resolved by a person. Told at once (no hold for a reopen: a person decided); the rule's next
   * matching event reopens it within reopen_window, as after any resolution.
   */
  resolveByHand(
    rec: IncidentRecord,
    policy: IncidentPolicy,
    actor: string,
    reason: string,
    atMs: number,
    out: IncidentChange[],
  ): void {
    this.resolve(rec, { ...policy, reopenWindowMs: 0 }, atMs, reason, undefined, out, actor);
  }

  /**
   * Reopened by a person. Whoever was told of the resolution hears of it; a resolution still
   * held back was never told, so the reopening is not either. The incident is then open to its
   * rule like any other: the rule resolves it again when its own condition says so.
   */
  reopenByHand(rec: IncidentRecord, actor: string, reason: string, atMs: number, out: IncidentChange[]): void {
    const inc = rec.incident;
    if (!this.isOverflow(inc)) this.store.addCount(OPEN_COUNT + limitScope(inc.rule, inc.tenant), 0, 1, NEVER);
    reopened(rec, atMs);
    rec.escalated = false;
    const held = (rec.resolveHeldUntilMs ?? 0) > 0;
    if (held) this.releaseHold(rec, inc.version + 1);
    const notify = this.told(rec) && !held;
    if (notify) rec.notifiedAtMs = atMs;
    this.emit(rec, 'reopened', reason, atMs, notify, undefined, out, false, actor);
  }

  /** Whether anyone was told of the incident (and it is not suppressed): a person's change is then told too. */
  private told(rec: IncidentRecord): boolean {
    return !rec.incident.suppressed && rec.notifiedAtMs >= 0;
  }

  /**
   * The incident the store holds under this id. Ids this agent wrote are found at once; others
   * (written only by other agents) by a scan, which then remembers them.
   */
  byId(id: string): IncidentRecord | undefined {
    const known = this.keyOfId.get(id);
    const rec = known === undefined ? undefined : this.withTrail(known);
    if (rec && rec.incident.id === id) return rec;
    for (const key of this.store.keys('i:')) {
      const stored = this.store.read(key)?.value as unknown as IncidentRecord | undefined;
      if (stored?.incident.id !== id) continue;
      this.keyOfId.set(id, stored.incident.key);
      return this.withTrail(stored.incident.key);
    }
    if (known !== undefined) this.keyOfId.delete(id);
    return undefined;
  }

  /** Forgets the ids whose incident the store no longer holds under them (expired, or a later incident on the key). */
  pruneIds(): void {
    const idAt = (key: string) =>
      (this.store.read('i:' + key)?.value as unknown as IncidentRecord | undefined)?.incident.id;
    for (const [id, key] of this.keyOfId) if (idAt(key) !== id) this.keyOfId.delete(id);
    for (const [key, told] of this.toldCounts) if (idAt(key) !== told.id) this.toldCounts.delete(key);
    for (const [key, heard] of this.sealedHere) if (!heard.startsWith(`${idAt(key)}@`)) this.sealedHere.delete(key);
    for (const key of this.lastSeenKeys.keys()) if (idAt(key) === undefined) this.lastSeenKeys.delete(key);
  }

  /** Writes a record back after the caller changed its bookkeeping (members, flapping). */
  save(rec: IncidentRecord): void {
    const inc = rec.incident;
    if (!this.keyOfId.has(inc.id)) this.keyOfId.set(inc.id, inc.key);
    inc.version++;
    this.store.write('i:' + inc.key, rec as unknown as StateValue, inc.version, expiryOf(inc));
  }
}
