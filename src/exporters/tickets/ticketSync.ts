import { Counter, type Registry } from 'prom-client';
import type { IncidentDesk } from '../../correlation/incidentActions.ts';
import type { Incident } from '../../model/incident.ts';
import type { Logger } from '../../telemetry/logger.ts';
import { ticketOfIncident, type TicketLedger, type TicketRecord } from './ledger.ts';
import type { RequestBudget } from './pollLoop.ts';

/** Where a ticket stands, in the terms every tracker shares (Jira's status categories). */
export type TicketProgress = 'open' | 'in_progress' | 'done';

/** A ticket as the tracker shows it now, or as a webhook says it became. */
export interface ObservedTicket {
  ref: string;
  /** The tracker's own status (GLPI's number, Jira's status name): compared with what Vigil last wrote. */
  status: string;
  progress: TicketProgress;
  /** Who changed it last, as the tracker names them. */
  actor: string;
  /** Their account id, when the tracker gives one: compared with the account Vigil writes as. */
  actorId?: string;
}

/** A comment on a ticket, as the tracker lists it. */
export interface TrackerComment {
  /** The tracker's id of the comment. */
  id: string;
  /** Who wrote it, as the tracker names them. */
  author: string;
  /** Their account id: compared with the account Vigil writes as. */
  authorId?: string;
  /** As plain text. */
  text: string;
}

/** A driver that can read a ticket back, for polling. */
export interface TicketReader {
  /** Undefined when the tracker no longer has the ticket. */
  readTicket(ref: string): Promise<ObservedTicket | undefined>;
  /**
   * The ticket's latest comments, for a driver that can tell Vigil's own account (`ownActorId`)
   * from people's; undefined when the tracker no longer has the ticket.
   */
  readComments?(ref: string): Promise<TrackerComment[] | undefined>;
}

/**
 * An open ticket the ledger holds and the open incidents it stands for: one incident's, or a
 * notification group's (a route with `group_by`), whose firing members it stands for.
 */
export interface HeldTicket {
  /** The ledger key: the incident's key, or the group's. */
  key: string;
  /** Whose the ledger record must be: the incident's id, or the group occurrence's. */
  owner: { id: string; mergedIds?: string[] };
  /**
   * Open incidents the ticket stands for: the one, or the group's members that are open and that
   * its last notification listed as firing (none, for a group whose members all resolved).
   */
  incidents: Incident[];
  record: TicketRecord;
}

/** A notification group as sync reads it: its key and occurrence, its members, what its ticket was told. */
export interface SyncedGroup {
  key: string;
  id: string;
  members: Record<string, { incident: { id: string }; firing: boolean }>;
  notified?: { firing: string[] };
}

/** What became of an observation: the change made, or why none was. */
export type SyncOutcome =
  | 'acknowledged'
  | 'resolved'
  /** The ticket is in the status Vigil's own last write left it in. */
  | 'own_write'
  /** Polling saw this status already. */
  | 'unchanged'
  /** Nothing to do for this status (new, pending), or the incident is acknowledged already. */
  | 'no_action'
  /** No open incident holds this ticket (resolved, or never Vigil's). */
  | 'not_held'
  /** The core refused: the incident changed meanwhile. */
  | 'refused';

export interface TicketSyncOptions {
  exporterId: string;
  ledger: () => TicketLedger;
  desk: () => IncidentDesk | undefined;
  logger: Logger;
  registry: Registry;
  /** The tracker account Vigil writes as, when the driver can tell: its changes are Vigil's, whenever they arrive. */
  ownActorId?: () => Promise<string | undefined>;
  /** The exporter's notification groups now: their tickets are read back for their members. */
  groups?: () => readonly SyncedGroup[];
}

const counters = new WeakMap<Registry, Counter<'exporter' | 'change'>>();

function changesCounter(registry: Registry): Counter<'exporter' | 'change'> {
  let c = counters.get(registry);
  if (!c) {
    c = new Counter({
      name: 'vigil_exporter_ticket_sync_changes_total',
      help: 'Incidents acknowledged or resolved because a person moved their ticket in the tracker, or commented because a person commented on it.',
      labelNames: ['exporter', 'change'],
      registers: [registry],
    });
    counters.set(registry, c);
  }
  return c;
}

/**
 * Tickets back to incidents: a ticket a person moved to done resolves its incident, one moved
 * to in progress acknowledges it, through the correlation core like an operator's action (with
 * the ticket's actor). Only tickets the ledger holds open for open incidents count, and a status
 * equal to what Vigil itself last wrote (`TicketRecord.written`) is Vigil's doing, never read
 * back as a person's: resolving an incident solves its ticket, reopening it sets the ticket back
 * to processing, and neither may come back as a change.
 */
export class TicketSync {
  private readonly opts: TicketSyncOptions;
  /** Polling: the status each held ticket had at the last pass, so a status is acted on once. */
  private readonly lastSeen = new Map<string, string>();
  /** Polling: the comments of each held ticket already read back (or Vigil's own). */
  private readonly commentsSeen = new Map<string, Set<string>>();
  private readonly changes: Counter<'exporter' | 'change'>;

  constructor(opts: TicketSyncOptions) {
    this.opts = opts;
    this.changes = changesCounter(opts.registry);
  }

  /**
   * The open tickets of open incidents, as the ledger holds them, and those of the groups alive.
   * A group's ticket stands for the members a person saw on it: those its last notification
   * listed as firing, still firing and open (this occurrence of each). One that joined since is
   * not, and the group's ticket is held while the group lives, so a status a pass acted on is
   * not acted on again for members that join after it.
   */
  async held(): Promise<HeldTicket[]> {
    const desk = this.opts.desk();
    if (!desk) return [];
    const ledger = this.opts.ledger();
    const out: HeldTicket[] = [];
    const open = new Map<string, Incident>();
    for (const incident of [...desk.incidents()]) {
      if (incident.status === 'resolved') continue;
      open.set(incident.key, incident);
      const record = await ledger.get(incident.key);
      if (record && !record.resolved && ticketOfIncident(record, incident))
        out.push({ key: incident.key, owner: incident, incidents: [incident], record });
    }
    for (const g of this.opts.groups?.() ?? []) {
      const incidents: Incident[] = [];
      for (const key of g.notified?.firing ?? []) {
        const m = g.members[key];
        const incident = open.get(key);
        if (m?.firing && incident?.id === m.incident.id) incidents.push(incident);
      }
      const record = await ledger.get(g.key);
      if (record && !record.resolved && ticketOfIncident(record, g))
        out.push({ key: g.key, owner: { id: g.id }, incidents, record });
    }
    return out;
  }

  /** One polling pass: reads every held ticket (within the budget) and applies what changed. */
  async poll(reader: TicketReader, budget: RequestBudget): Promise<void> {
    const held = await this.held();
    const refs = new Set(held.map((h) => h.record.ref));
    for (const ref of this.lastSeen.keys()) if (!refs.has(ref)) this.lastSeen.delete(ref);
    for (const ref of this.commentsSeen.keys()) if (!refs.has(ref)) this.commentsSeen.delete(ref);
    for (const h of held) {
      if (reader.readComments) {
        await budget.take();
        const comments = await reader.readComments(h.record.ref);
        if (comments) await this.applyComments(h, comments);
      }
      await budget.take();
      const seen = await reader.readTicket(h.record.ref);
      if (!seen) continue;
      if (this.lastSeen.get(seen.ref) === seen.status) continue;
      this.lastSeen.set(seen.ref, seen.status);
      await this.apply(h, seen);
    }
  }

  /** A webhook's news of a ticket: applied when an open incident holds it. */
  async applyTo(seen: ObservedTicket): Promise<SyncOutcome> {
    const held = (await this.held()).find((h) => h.record.ref === seen.ref);
    return held ? this.apply(held, seen) : 'not_held';
  }

  /**
   * People's comments on the ticket go to the incident's timeline as comments with the ticket's
   * author as actor, each once: this process remembers the ids it read, and a comment the
   * incident's audit trail holds already (read before a restart, or by another agent) is not
   * added again. Vigil's own comments (its follow-ups) are never read back; while the driver
   * cannot yet tell which account is Vigil's, no comment is.
   */
  async applyComments(held: HeldTicket, comments: TrackerComment[]): Promise<void> {
    const own = await this.opts.ownActorId?.();
    if (own === undefined) return;
    const { record } = held;
    let seen = this.commentsSeen.get(record.ref);
    if (!seen) this.commentsSeen.set(record.ref, (seen = new Set()));
    const ticket = `${this.opts.exporterId}#${record.ref}`;
    for (const c of comments) {
      if (seen.has(c.id)) continue;
      seen.add(c.id);
      const text = c.text.trim();
      if (c.authorId === own || text === '') continue;
      const reason = `comment by ticket ${ticket} (${c.author}): ${text}`;
      // A group's ticket speaks for each of its members: the comment joins every one's timeline.
      for (const incident of held.incidents) {
        const now = this.opts.desk()?.incident(incident.id);
        if (!now || now.audit.some((a) => a.kind === 'commented' && a.reason === reason)) continue;
        const outcome = await this.opts.desk()!.act(incident.id, c.author, { kind: 'comment', text, ticket });
        if (!outcome.ok) continue;
        this.changes.inc({ exporter: this.opts.exporterId, change: 'commented' });
        this.opts.logger.info(
          { incident: incident.key, id: incident.id, ticket: record.ref, actor: c.author },
          'ticket comment added to the incident',
        );
      }
    }
  }

  /** A webhook's news of a comment: added when an open incident holds its ticket. */
  async applyCommentTo(ref: string, comment: TrackerComment): Promise<void> {
    const held = await this.held();
    const refs = new Set(held.map((h) => h.record.ref));
    for (const r of this.commentsSeen.keys()) if (!refs.has(r)) this.commentsSeen.delete(r);
    const h = held.find((x) => x.record.ref === ref);
    if (h) await this.applyComments(h, [comment]);
  }

  /**
   * Applies what a person did to the ticket to each incident it stands for, as to one: a group's
   * ticket moved to done resolves every open firing member, moved to in progress acknowledges
   * every one not yet acknowledged.
   */
  async apply(held: HeldTicket, seen: ObservedTicket): Promise<SyncOutcome> {
    const { record } = held;
    if (seen.status === record.written) return 'own_write';
    // A webhook Jira retries late, or delivers out of order, may tell of a status Vigil set before its last write.
    if (seen.actorId !== undefined && seen.actorId === (await this.opts.ownActorId?.())) return 'own_write';
    const kind = seen.progress === 'done' ? 'resolve' : seen.progress === 'in_progress' ? 'acknowledge' : undefined;
    const targets = held.incidents.filter((i) => kind === 'resolve' || i.status === 'open');
    if (!kind || targets.length === 0) return 'no_action';
    // A write of Vigil's may have landed since the ticket was read: the ledger says so.
    const now = await this.opts.ledger().get(held.key);
    if (
      !now ||
      now.resolved ||
      now.ref !== record.ref ||
      !ticketOfIncident(now, held.owner) ||
      now.written !== record.written
    )
      return 'not_held';
    const desk = this.opts.desk();
    if (!desk) return 'not_held';
    const ticket = `${this.opts.exporterId}#${seen.ref}`;
    const { logger, exporterId } = this.opts;
    const change = kind === 'resolve' ? 'resolved' : 'acknowledged';
    let applied = false;
    for (const incident of targets) {
      const outcome = await desk.act(incident.id, seen.actor, { kind, reason: '', ticket });
      if (!outcome.ok) {
        logger.debug(
          { incident: incident.key, ticket: seen.ref, refusal: outcome.refusal },
          'ticket change not applied',
        );
        continue;
      }
      applied = true;
      this.changes.inc({ exporter: exporterId, change });
      logger.info(
        { incident: incident.key, id: incident.id, ticket: seen.ref, status: seen.status, actor: seen.actor },
        `incident ${change} by its ticket`,
      );
    }
    return applied ? change : 'refused';
  }
}
