import type { VigilEvent } from '../model/event.ts';
import type { Incident, IncidentChange } from '../model/incident.ts';
import type { MetricPoint } from '../model/metric.ts';
import type { StateStore } from './stateStore.ts';
import { ruleOfKey } from './fieldPath.ts';
import { applyAction, type ActionOutcome, type IncidentAction } from './incidentActions.ts';
import { IncidentBook, type IncidentPolicy, type IncidentRecord } from './incidentBook.ts';
import { describeRuleChange, regroupedReason, type RuleReset } from './ruleChange.ts';
import {
  MARKED_KINDS,
  markOpen,
  watermarkOf,
  type CompiledRule,
  type EventRule,
  type IgnoredReason,
  type PointRule,
  type RuleContext,
} from './rules/rule.ts';
import type { Suppressor } from './suppression.ts';
import { compileSilenceMatchers, SilenceBook, type SilenceRecord } from './silences.ts';

export interface TimePolicy {
  lateEvents: 'drop' | 'arrival';
  maxFutureSkewMs: number;
  futureEvents: 'drop' | 'arrival';
}

/** Counters for /metrics and `vigil rules test`. */
export interface EngineStats {
  events: number;
  points: number;
  late: number;
  future: number;
  dropped: number;
  /**
   * Events and metric points none of the rules took, in an engine that takes some groups only
   * (`EngineOptions.takes`): placed with it by an agent whose rules group them otherwise (agents
   * part-way through a rules change). Always 0 in an engine of every group.
   */
  untaken: number;
  untakenPoints: number;
  /** Events a rule looked at and could do nothing with: rule → reason → count. */
  ignored: Map<string, Map<IgnoredReason, number>>;
}

/** All ignored events, whatever the rule and reason. */
export function ignoredTotal(stats: EngineStats): number {
  let n = 0;
  for (const byReason of stats.ignored.values()) for (const c of byReason.values()) n += c;
  return n;
}

/** A rule set with what the engine needs besides the rules. */
export interface RuleSet {
  rules: CompiledRule[];
  suppressor: Suppressor;
  time: TimePolicy;
  /** The parent asset of an event (topology); '' when unknown or topology is off. */
  parentOf: (e: VigilEvent) => string;
}

/** What a reload did: the changes it made (removed rules' incidents resolved) and the rules it started afresh. */
export interface ReloadResult {
  changes: IncidentChange[];
  reset: RuleReset[];
}

const SWEEP_EVERY_MS = 30_000;

/** The policy a resolution by hand reads when the incident's rule is gone: tell it at once. */
function standInPolicy(rec: IncidentRecord): IncidentPolicy {
  const inc = rec.incident;
  return {
    rule: inc.rule,
    kind: inc.ruleKind,
    title: undefined,
    groupWaitMs: 0,
    groupIntervalMs: 0,
    repeatIntervalMs: 0,
    reopenWindowMs: 0,
    sampleSize: 0,
    resolve: 'first',
    maxOpenIncidents: 0,
  };
}

const removedReason = (rule: string) => `rule ${rule} was removed from the configuration`;

/**
 * Whole ms in a count of ns since 1970, exactly. Through a double the division rounds (ns since
 * 1970 need 61 bits), so ...04.346000000 came out as ...04.345 and, with no allowed lateness, about
 * one event in eight was dropped as late. One bigint division measured as fast as the double's
 * (about 50 ns) and faster than splitting the bigint into 32-bit halves (about 100 ns).
 */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}

/** The event's time in ms (its observed time when it has none). */
function timeMs(e: VigilEvent): number {
  return nsToMs(e.timeUnixNano === 0n ? e.observedTimeUnixNano : e.timeUnixNano);
}

/**
 * Per-rule state key prefixes: window counters, marks and registers, not the incidents. Nor `h:`,
 * the index of held resolutions: it is incidents' notification state, which a changed rule keeps
 * and which a removed or regrouped rule's incidents tell at once (see `reload`).
 */
const STATE_TAGS = ['c', 'a', 'ag', 'ah', 'p', 'f', 'd', 'ms', 'mn', 'mx', 'ml', 'mp', 'mr', 'mf'];

export interface EngineOptions {
  /**
   * Whether this engine takes `e` for `rule` (which matched it): an engine that owns some of the
   * groups only (one partition of the owners design) leaves the others' to their owners, so an
   * event of two rules whose groups lie in two partitions counts once in each. Default: all.
   */
  takes?(rule: EventRule, e: VigilEvent): boolean;
  /** As `takes`, for metric points and point rules. */
  takesPoint?(rule: PointRule, p: MetricPoint): boolean;
  /**
   * Nothing but this engine writes its store once its first step has run (a partition's, whose
   * holder alone writes it; one agent's memory or durable store): the look before each step at
   * the records and marks other agents changed is made once, at the first, for what a restore
   * brought, and then no more. Default: false (a store other agents write, Redis's).
   */
  soleWriter?: boolean;
  /** Labels this engine's overflow incidents (max_open_incidents) carry beside `overflow`: a partition's. */
  overflowScope?: Readonly<Record<string, string>>;
  /**
   * The incidents other engines hold (the other partitions', as their owners last told them), for
   * a tick at `atMs`: those open at that moment by their times (`openAt`; a resolved one resolved
   * at or after it counts) inhibit, and mark assets down, as this engine's own do, from each tick
   * on. Default: none (this engine's store holds every group).
   */
  elsewhere?(atMs: number): Iterable<Incident>;
}

/**
 * The correlation core: events and metric points in, incident changes out, with the clock
 * passed in. It holds no timers and does no I/O; all state lives in the StateStore so that
 * several agents can share it.
 */
export class CorrelationEngine {
  readonly store: StateStore;
  readonly book: IncidentBook;
  readonly silences: SilenceBook;
  readonly stats: EngineStats = {
    events: 0,
    points: 0,
    late: 0,
    future: 0,
    dropped: 0,
    untaken: 0,
    untakenPoints: 0,
    ignored: new Map(),
  };
  private set!: RuleSet;
  private eventRules: EventRule[] = [];
  private pointRules: PointRule[] = [];
  private byName = new Map<string, CompiledRule>();
  private lastSweepMs = 0;
  private readonly ctx: RuleContext;
  /** Window counters other agents' writes raised since the last tick. */
  private readonly mergedCounts = new Set<string>();

  /** The groups of a rule this engine takes events for (`EngineOptions.takes`); undefined: all. */
  private readonly takes: ((rule: EventRule, e: VigilEvent) => boolean) | undefined;
  private readonly takesPoint: ((rule: PointRule, p: MetricPoint) => boolean) | undefined;
  private readonly elsewhere: ((atMs: number) => Iterable<Incident>) | undefined;

  constructor(set: RuleSet, store: StateStore, opts: EngineOptions = {}) {
    this.store = store;
    this.takes = opts.takes;
    this.takesPoint = opts.takesPoint;
    this.elsewhere = opts.elsewhere;
    this.book = new IncidentBook(store, opts.soleWriter);
    this.silences = new SilenceBook(store);
    this.silences.refresh(0);
    const ignored = this.stats.ignored;
    this.ctx = {
      store,
      book: this.book,
      out: [],
      nowMs: 0,
      ignore(rule, reason) {
        let byReason = ignored.get(rule);
        if (!byReason) ignored.set(rule, (byReason = new Map()));
        byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
      },
    };
    this.book.onHeldBack = (rule) => this.ctx.ignore(rule, 'max_open_incidents');
    if (opts.overflowScope) this.book.overflowScope = opts.overflowScope;
    store.onMergedCount('c:', (key) => this.mergedCounts.add(key));
    this.install(set);
  }

  get rules(): readonly CompiledRule[] {
    return this.set.rules;
  }

  private install(set: RuleSet): void {
    this.set = set;
    this.eventRules = set.rules.filter((r): r is EventRule => r.signal === 'logs');
    this.pointRules = set.rules.filter((r): r is PointRule => r.signal === 'metrics');
    this.byName = new Map(set.rules.map((r) => [r.name, r]));
    this.book.parentOf = set.parentOf;
    const suppressor = set.suppressor;
    suppressor.live = this.silences.live;
    this.book.suppressor = (rec) => suppressor.suppressionOf(rec, this.ctx.nowMs);
  }

  private begin(nowMs: number): IncidentChange[] {
    const out: IncidentChange[] = [];
    this.ctx.out = out;
    this.ctx.nowMs = nowMs;
    // Before this step counts anything: what this agent counted so far is all it counted before it heard of what merged in since.
    this.book.completeCounts(nowMs, out);
    return out;
  }

  private end(out: IncidentChange[]): IncidentChange[] {
    this.book.drainMerges(this.ctx.nowMs, out);
    this.book.tellUntoldResolutions(out);
    for (const key of this.book.takeRevisits()) {
      const rec = this.book.get(key);
      const rule = rec && this.byName.get(rec.incident.rule);
      if (rec && rec.incident.status === 'resolved') rule?.onResolvedElsewhere?.(rec, this.ctx);
    }
    for (const c of out) {
      if (c.kind === 'opened' || c.kind === 'reopened' || c.kind === 'resolved') {
        const rec = this.book.get(c.incident.key);
        if (rec) this.set.suppressor.note(rec, rec.incident.status !== 'resolved');
      }
    }
    return out;
  }

  /** The time an item counts at under a rule's time policy, or undefined when the late/future policy drops it. */
  private timeOf(
    itemMs: number,
    rule: CompiledRule,
    nowMs: number,
    flags: { late: boolean; future: boolean },
  ): number | undefined {
    if (rule.time === 'arrival') return nowMs;
    if (itemMs < nowMs - rule.latenessMs) {
      flags.late = true;
      return this.set.time.lateEvents === 'drop' ? undefined : nowMs;
    }
    if (itemMs > nowMs + this.set.time.maxFutureSkewMs) {
      flags.future = true;
      return this.set.time.futureEvents === 'drop' ? undefined : nowMs;
    }
    return itemMs;
  }

  process(events: readonly VigilEvent[], nowMs: number): IncidentChange[] {
    const out = this.begin(nowMs);
    const rules = this.eventRules;
    const takes = this.takes;
    const flags = { late: false, future: false };
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      let eventMs = -1;
      flags.late = flags.future = false;
      let dropped = false;
      let took = false;
      for (let r = 0; r < rules.length; r++) {
        const rule = rules[r]!;
        if (!rule.match(e) || (takes !== undefined && !takes(rule, e))) continue;
        took = true;
        if (eventMs < 0) eventMs = timeMs(e);
        const t = this.timeOf(eventMs, rule, nowMs, flags);
        if (t === undefined) {
          dropped = true;
          continue;
        }
        rule.onEvent(e, t, this.ctx);
      }
      if (flags.late) this.stats.late++;
      if (flags.future) this.stats.future++;
      if (dropped) this.stats.dropped++;
      if (!took && takes !== undefined) this.stats.untaken++;
    }
    this.stats.events += events.length;
    return this.end(out);
  }

  processPoints(points: readonly MetricPoint[], nowMs: number): IncidentChange[] {
    const out = this.begin(nowMs);
    const rules = this.pointRules;
    const flags = { late: false, future: false };
    for (const p of points) {
      flags.late = flags.future = false;
      let dropped = false;
      let took = false;
      for (const rule of rules) {
        if (p.name !== rule.metric || !rule.match(p) || (this.takesPoint !== undefined && !this.takesPoint(rule, p)))
          continue;
        took = true;
        const t = this.timeOf(nsToMs(p.timeUnixNano), rule, nowMs, flags);
        if (t === undefined) {
          dropped = true;
          continue;
        }
        rule.onPoint(p, t, this.ctx);
      }
      if (flags.late) this.stats.late++;
      if (flags.future) this.stats.future++;
      if (dropped) this.stats.dropped++;
      if (!took && this.takesPoint !== undefined) this.stats.untakenPoints++;
    }
    this.stats.points += points.length;
    return this.end(out);
  }

  /** Everything time alone decides: silences, deadlines, hysteresis, notification timers, suppression. */
  tick(nowMs: number): IncidentChange[] {
    const out = this.begin(nowMs);
    const marks = new Map<string, string[]>();
    if (this.set.rules.some((r) => r.onTick)) {
      for (const key of this.store.keys('a:')) {
        const rule = ruleOfKey(key.slice(2));
        const list = marks.get(rule);
        if (list) list.push(key);
        else marks.set(rule, [key]);
      }
    }
    for (const rule of this.set.rules) rule.onTick?.(watermarkOf(rule, nowMs), this.ctx, marks.get(rule.name) ?? []);
    for (const counter of this.mergedCounts)
      this.byName.get(ruleOfKey(counter.slice(2)))?.onMergedCount?.(counter, this.ctx);
    this.mergedCounts.clear();
    this.refreshSilences(nowMs);
    const open = this.openIncidents();
    this.set.suppressor.rebuild(open, this.set.suppressor.looksAtOthers ? this.elsewhere?.(nowMs) : undefined, nowMs);
    for (const rec of open) {
      const rule = this.byName.get(rec.incident.rule);
      if (!rule) continue;
      // The overflow incident stands for no group of the rule: only the open count settles it.
      if (this.book.isOverflow(rec.incident)) this.book.settleOverflow(rec, rule.policy, nowMs, out);
      else rule.onOpenIncident?.(rec, watermarkOf(rule, nowMs), this.ctx);
      if (rec.incident.status === 'resolved') this.set.suppressor.note(rec, false);
    }
    this.settleSuppression(open, nowMs, out);
    this.book.notifyHeldResolves(nowMs, out);
    if (nowMs - this.lastSweepMs >= SWEEP_EVERY_MS) {
      this.lastSweepMs = nowMs;
      this.store.sweep(nowMs);
      this.book.pruneIds();
    }
    return this.end(out);
  }

  /**
   * What an agent that runs no timers still owes at a tick: the merges of its incidents into
   * other agents' twins, for storage. The leader's `tick` does this too.
   */
  settle(nowMs: number): IncidentChange[] {
    // The leader looks at windows other agents raised; this agent does not run timers.
    this.mergedCounts.clear();
    this.refreshSilences(nowMs);
    return this.end(this.begin(nowMs));
  }

  private refreshSilences(nowMs: number): void {
    this.silences.refresh(nowMs);
    this.set.suppressor.live = this.silences.live;
  }

  /**
   * Writes a silence made or changed through the API, and applies it (or its end) to the open
   * incidents at once: those it now covers are suppressed; those it stops covering are
   * unsuppressed, and notified if their group_wait has passed. The matchers must compile
   * (`compileSilenceMatchers`): a silence that cannot match is refused before it gets here.
   */
  putSilence(silence: SilenceRecord, nowMs: number): IncidentChange[] {
    if (typeof compileSilenceMatchers(silence.matchers) === 'string')
      throw new Error(`silence ${silence.id} has an invalid matcher`);
    const out = this.begin(nowMs);
    this.silences.put(silence, nowMs);
    this.refreshSilences(nowMs);
    this.settleSuppression(this.openIncidents(), nowMs, out);
    return this.end(out);
  }

  /** Suppresses or unsuppresses each open incident as things stand, and sends what its notification timers owe. */
  private settleSuppression(open: IncidentRecord[], nowMs: number, out: IncidentChange[]): void {
    for (const rec of open) {
      const rule = this.byName.get(rec.incident.rule);
      if (!rule || rec.incident.status === 'resolved') continue;
      this.book.setSuppression(rec, this.set.suppressor.suppressionOf(rec, nowMs), nowMs, out);
      this.book.notifyDue(rec, rule.policy, nowMs, out);
    }
  }

  /** Open incidents in the store, this agent's and others'. */
  openIncidents(): IncidentRecord[] {
    const open: IncidentRecord[] = [];
    for (const key of [...this.store.keys('i:')]) {
      const rec = this.book.openRecordAt(key);
      if (rec) open.push(rec);
    }
    return open;
  }

  /**
   * Every incident the store holds, one at a time and without copying the key list: for readers
   * (the operators' API) that scan them all on each request. Nothing may change the store while
   * it runs. `current` brings a record's derived fields and audit trail up to date (see `IncidentBook.withTrail`);
   * without it, the event count of a rule that counts its group's events may lag behind the
   * shared count (every field a filter reads is exact either way), and a scan costs a third.
   */
  *eachIncident(current = true): IterableIterator<IncidentRecord> {
    for (const key of this.store.keys('i:')) {
      const rec = current
        ? this.book.withTrail(key.slice(2))
        : (this.store.read(key)?.value as unknown as IncidentRecord | undefined);
      if (rec) yield rec;
    }
  }

  /**
   * A reader of incident changes: each call of the function it returns gives the incidents whose
   * record changed since the previous call, by key, as stored (undefined: gone), whichever agent
   * changed them. For an index that must not scan every record to stay current.
   */
  watchIncidents(): () => [string, Incident | undefined][] {
    const changes = this.store.watchRegisters('i:');
    return () =>
      [...changes.take()].map((k) => [
        k.slice(2),
        (this.store.read(k)?.value as unknown as IncidentRecord | undefined)?.incident,
      ]);
  }

  /** The parent asset (topology) of the incident on this key, as stored; '' when unknown or topology is off. */
  parentOf(key: string): string {
    return (this.store.read('i:' + key)?.value as unknown as IncidentRecord | undefined)?.parent ?? '';
  }

  /** The incident the store holds under this id, if any (a merged-away or forgotten id has none). */
  incidentById(id: string): IncidentRecord | undefined {
    return this.book.byId(id);
  }

  /**
   * A person's action on the incident `id` (acknowledge, resolve, reopen, comment, assign),
   * made an IncidentChange with its actor, or refused with the reason.
   */
  act(id: string, actor: string, action: IncidentAction, nowMs: number): ActionOutcome {
    const rec = this.incidentById(id);
    if (!rec) return { ok: false, refusal: 'not_found', message: `no incident has id ${id}` };
    const out = this.begin(nowMs);
    const outcome = applyAction(
      this.book,
      rec,
      this.byName.get(rec.incident.rule)?.policy ?? standInPolicy(rec),
      actor,
      action,
      nowMs,
      out,
    );
    if (outcome.ok) this.end(out);
    return outcome;
  }

  /** Every incident the store still holds, resolved ones included. */
  incidents(): IncidentRecord[] {
    const all: IncidentRecord[] = [];
    for (const key of [...this.store.keys('i:')]) {
      const rec = this.book.withTrail(key.slice(2));
      if (rec) all.push(rec);
    }
    return all;
  }

  /**
   * Swaps the rule set. Rules whose configuration did not change keep their windows, marks and
   * incidents; a changed rule starts its windows afresh (its open incidents stay and keep
   * attaching, unless its `group_by` changed: no event can reach them then, so they resolve);
   * a removed rule's open incidents resolve. Says which rules started afresh, and why.
   */
  reload(set: RuleSet, nowMs: number): ReloadResult {
    const out = this.begin(nowMs);
    const next = new Map(set.rules.map((r) => [r.name, r]));
    const reset = new Map<string, RuleReset>();
    const removed = new Set<string>();
    for (const old of this.set.rules) {
      const now = next.get(old.name);
      if (!now) removed.add(old.name);
      else if (now.identity !== old.identity)
        reset.set(old.name, describeRuleChange(old.name, old.identity, now.identity));
    }
    if (reset.size > 0 || removed.size > 0) {
      for (const key of [...this.store.keys('')]) {
        const colon = key.indexOf(':');
        const tag = key.slice(0, colon);
        const rule = ruleOfKey(key.slice(colon + 1));
        if ((reset.has(rule) || removed.has(rule)) && STATE_TAGS.includes(tag)) this.store.delete(key, nowMs);
      }
      for (const rec of this.openIncidents()) {
        const rule = this.byName.get(rec.incident.rule);
        const change = rule && reset.get(rule.name);
        // Neither can reopen (no rule, or no event reaching its key): no reason to hold their notification.
        if (rule && removed.has(rule.name))
          this.book.resolve(
            rec,
            { ...rule.policy, reopenWindowMs: 0 },
            nowMs,
            removedReason(rule.name),
            undefined,
            out,
          );
        else if (rule && change?.regrouped)
          this.book.resolve(
            rec,
            { ...rule.policy, reopenWindowMs: 0 },
            nowMs,
            regroupedReason(rule.name, rule.identity, next.get(rule.name)!.identity),
            undefined,
            out,
          );
        // The fresh counter of a changed rule must still say its open incident exists, so events keep attaching.
        else if (rule && change && MARKED_KINDS.has(next.get(rule.name)!.kind))
          markOpen(this.store, 'c:' + rec.incident.key, 1, nowMs);
      }
      // For the same reason, resolutions already held back for such a rule are told now.
      for (const key of this.book.heldKeys()) {
        const name = ruleOfKey(key);
        const why = removed.has(name)
          ? removedReason(name)
          : reset.get(name)?.regrouped
            ? regroupedReason(name, this.byName.get(name)!.identity, next.get(name)!.identity)
            : undefined;
        const rec = why === undefined ? undefined : this.book.get(key);
        if (rec)
          this.book.notifyHeld(rec, nowMs, `${why}: it can no longer reopen, so its held resolution is told`, out);
      }
    }
    this.install(set);
    return { changes: this.end(out), reset: [...reset.values()] };
  }
}
