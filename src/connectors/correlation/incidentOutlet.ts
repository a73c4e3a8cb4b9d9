import { TooManyRecordsError } from '../../errors.ts';
import type { IncidentChange } from '../../model/incident.ts';
import type { Consumer } from '../../pipeline/signals.ts';
import type { Logger } from '../../telemetry/logger.ts';

/** Changes kept for the incidents pipelines while they refuse (back-pressure), beyond which the oldest go. */
const BACKLOG_LIMIT = 100_000;

export interface IncidentOutletOptions {
  /** The incidents pipelines; undefined while none exists. */
  output: () => Consumer<IncidentChange> | undefined;
  logger: Logger;
  /** Changes the pipelines accepted, or that went nowhere (none configured, or dropped from a full backlog). */
  delivered?(changes: readonly IncidentChange[]): void;
  /**
   * Before held changes are handed over again: those still this agent's to send (a notification
   * another agent took over while they were held is not). Resolves with `held` when it cannot tell.
   */
  recheck?(held: IncidentChange[]): Promise<IncidentChange[]>;
}

/**
 * Where a correlation runtime's incident changes leave it: the `incidents` pipelines, in slices
 * they accept, with what they refuse held (in order, up to a limit) for the next delivery.
 */
export class IncidentOutlet {
  private readonly opts: IncidentOutletOptions;
  private backlog: IncidentChange[] = [];
  private warnedNoOutput = false;

  constructor(opts: IncidentOutletOptions) {
    this.opts = opts;
  }

  /** Changes held first, before any new one: what a crash kept from the pipelines, say. */
  hold(changes: IncidentChange[]): void {
    this.backlog = changes.concat(this.backlog);
  }

  get held(): number {
    return this.backlog.length;
  }

  /** Hands `changes` (after anything held) to the incidents pipelines; what they refuse is held. Never throws. */
  async send(changes: IncidentChange[]): Promise<void> {
    if (changes.length === 0 && this.backlog.length === 0) return;
    const out = this.opts.output();
    if (!out) {
      if (!this.warnedNoOutput)
        this.opts.logger.warn(
          'correlation produced incident changes but no incidents pipeline is configured; they are not delivered',
        );
      this.warnedNoOutput = true;
      this.opts.delivered?.(changes);
      return;
    }
    let held = this.backlog;
    this.backlog = [];
    if (held.length && this.opts.recheck)
      held = await this.opts.recheck(held).catch((err: unknown) => {
        this.opts.logger.warn({ err }, 'held incident changes could not be checked again; handed over as they are');
        return held;
      });
    let batch = held.length ? held.concat(changes) : changes;
    // A backlog can outgrow the incidents queue, which refuses a batch larger than itself for
    // good: it goes in slices of the queue's size.
    let slice = batch.length;
    try {
      while (batch.length > 0) {
        const part = slice >= batch.length ? batch : batch.slice(0, slice);
        try {
          await out.consume(part);
        } catch (err) {
          if (!(err instanceof TooManyRecordsError) || err.limit >= slice) throw err;
          slice = err.limit;
          continue;
        }
        this.opts.delivered?.(part);
        batch = part === batch ? [] : batch.slice(part.length);
      }
    } catch (err) {
      // The engine has moved on; its changes wait for the next delivery rather than vanish.
      const dropped = Math.max(0, batch.length - BACKLOG_LIMIT);
      this.backlog = dropped ? batch.slice(dropped) : batch;
      if (dropped) this.opts.delivered?.(batch.slice(0, dropped));
      if (dropped)
        this.opts.logger.error({ dropped }, 'incidents pipeline kept refusing; oldest incident changes dropped');
      else
        this.opts.logger.warn(
          { err, held: this.backlog.length },
          'incidents pipeline refused incident changes; holding them for the next tick',
        );
    }
  }
}
