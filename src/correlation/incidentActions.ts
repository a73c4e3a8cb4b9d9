import type { Incident, IncidentChange } from '../model/incident.ts';
import type { RuleConfig } from './config.ts';
import type { IncidentBook, IncidentPolicy, IncidentRecord } from './incidentBook.ts';
import type { SilenceDesk } from './silences.ts';

/** What a person may do to an incident (through the operators' API). */
export type IncidentAction =
  | { kind: 'acknowledge'; reason: string; ticket?: string }
  | { kind: 'resolve'; reason: string; ticket?: string }
  | { kind: 'reopen'; reason: string }
  | { kind: 'comment'; text: string; ticket?: string }
  /** `assignee` '' takes the incident off whoever had it. */
  | { kind: 'assign'; assignee: string; reason: string };

/**
 * Why an action was refused, each with a stable code: the incident is not there (never was,
 * merged into another, or forgotten a day after its resolution), its state forbids the action,
 * or (`unavailable`) another agent holds it and did not answer (state.sharing: partitions).
 */
export type ActionRefusal = 'not_found' | 'resolved' | 'not_resolved' | 'already_acknowledged' | 'unavailable';

export type ActionOutcome =
  { ok: true; incident: Incident; changes: IncidentChange[] } | { ok: false; refusal: ActionRefusal; message: string };

/**
 * The incidents as the core holds them, and a person's actions on them: what the operators' API
 * needs of the correlation runtime. Actions resolve once their changes went to the incidents
 * pipelines (storage, tickets) and the durable state. Silences too.
 */
export interface IncidentDesk extends SilenceDesk {
  /**
   * Every incident held now, open ones and resolved ones for a day, as stored: read-only views
   * to scan and filter, whose event count may lag for rules that count their group's events.
   */
  incidents(): Iterable<Incident>;
  /** What `CorrelationEngine.watchIncidents` gives: a reader of the incidents changed since it last read. */
  watchIncidents?(): () => [string, Incident | undefined][];
  /** The incident on this key as it stands (counts brought up to date). */
  current(key: string): Incident | undefined;
  incident(id: string): Incident | undefined;
  /** The parent asset (topology) of the incident on this key, from the event that opened it; '' when unknown. */
  parentOf?(key: string): string;
  act(id: string, actor: string, action: IncidentAction): Promise<ActionOutcome>;
  /** The rules running now, as configured (a reload swaps them). */
  rules?(): readonly RuleConfig[];
  /**
   * The operators' API reads this desk from now on: a desk that shows more than its own memory
   * holds (the other agents' partitions under state.sharing: partitions) gets ready to.
   */
  serve?(): Promise<void>;
  /** Calls `listener` with every batch of changes this desk delivers (the rules' and people's); returns the unsubscribe. */
  watch?(listener: (changes: readonly IncidentChange[]) => void): () => void;
}

/** Which states an action needs, and the refusal otherwise. */
function refusalOf(inc: Incident, action: IncidentAction): { refusal: ActionRefusal; message: string } | undefined {
  const resolved = inc.status === 'resolved';
  switch (action.kind) {
    case 'acknowledge':
      if (resolved)
        return { refusal: 'resolved', message: `incident ${inc.id} is resolved; reopen it before acknowledging it` };
      if (inc.status === 'acknowledged')
        return {
          refusal: 'already_acknowledged',
          message: `incident ${inc.id} was already acknowledged by ${inc.acknowledgedBy ?? 'someone'}`,
        };
      return undefined;
    case 'resolve':
    case 'assign':
      return resolved
        ? {
            refusal: 'resolved',
            message: `incident ${inc.id} is resolved already${action.kind === 'assign' ? '; reopen it before assigning it' : ''}`,
          }
        : undefined;
    case 'reopen':
      return resolved
        ? undefined
        : {
            refusal: 'not_resolved',
            message: `incident ${inc.id} is ${inc.status}, not resolved: there is nothing to reopen`,
          };
    case 'comment':
      // A comment on a resolved incident is a post-mortem note: welcome.
      return undefined;
  }
}

/** The audit wording of a person's change: who, and why when they said. */
function worded(what: string, actor: string, why: string, ticket?: string): string {
  const by = ticket ? `ticket ${ticket} (${actor})` : actor;
  return why ? `${what} by ${by}: ${why}` : `${what} by ${by}`;
}

/**
 * Applies a person's action to an incident record through the book, so it becomes an
 * IncidentChange with its actor like any rule's change. `policy` is the incident's rule's (or a
 * stand-in when the rule is gone: only a resolution reads it).
 */
export function applyAction(
  book: IncidentBook,
  rec: IncidentRecord,
  policy: IncidentPolicy,
  actor: string,
  action: IncidentAction,
  nowMs: number,
  out: IncidentChange[],
): ActionOutcome {
  const refused = refusalOf(rec.incident, action);
  if (refused) return { ok: false, ...refused };
  switch (action.kind) {
    case 'acknowledge':
      book.acknowledge(rec, actor, worded('acknowledged', actor, action.reason, action.ticket), nowMs, out);
      break;
    case 'resolve':
      book.resolveByHand(rec, policy, actor, worded('resolved', actor, action.reason, action.ticket), nowMs, out);
      break;
    case 'reopen':
      book.reopenByHand(rec, actor, worded('reopened', actor, action.reason), nowMs, out);
      break;
    case 'comment':
      // The actor in the text too, so that storage without an actor column (ClickHouse's audit) still says who.
      book.comment(rec, actor, worded('comment', actor, action.text, action.ticket), nowMs, out, action.ticket);
      break;
    case 'assign':
      book.assign(
        rec,
        actor,
        action.assignee,
        worded(action.assignee ? `assigned to ${action.assignee}` : 'unassigned', actor, action.reason),
        nowMs,
        out,
      );
      break;
  }
  return { ok: true, incident: rec.incident, changes: out };
}
