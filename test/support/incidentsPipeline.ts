import { parse } from 'yaml';
import { correlationSchema, type CorrelationConfig } from '../../src/correlation/config.ts';
import { QueueFullError } from '../../src/errors.ts';
import type { IncidentChange } from '../../src/model/incident.ts';

/** An incidents pipeline that refuses while `full` is set, as a full queue does, and keeps what it took. */
export class IncidentsPipeline {
  full = false;
  readonly taken: IncidentChange[] = [];
  consume(batch: IncidentChange[]): Promise<void> {
    if (this.full) return Promise.reject(new QueueFullError('incidents', 1));
    this.taken.push(...batch);
    return Promise.resolve();
  }
}

/** Down opens, Up resolves, per asset, notified at once (group_wait 0). */
export const PAIR_RULES: CorrelationConfig = correlationSchema.parse(
  parse(`
defaults: { group_wait: 0s, allowed_lateness: 1m }
rules:
  - { kind: pair, name: link, group_by: [asset] }
`),
  'correlation',
  [],
)!;
