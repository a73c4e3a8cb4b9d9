import { parse } from 'yaml';
import { correlationSchema, type CorrelationConfig } from '../../src/correlation/config.ts';
import type { IncidentChange } from '../../src/model/incident.ts';
import { RefusingConsumer } from './refusingConsumer.ts';

/** An incidents pipeline that refuses while `full` is set, as a full queue does, and keeps what it took. */
export class IncidentsPipeline extends RefusingConsumer<IncidentChange> {
  constructor() {
    super('incidents', 1);
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
