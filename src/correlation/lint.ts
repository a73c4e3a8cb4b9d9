import type { CorrelationConfig, RuleConfig } from './config.ts';
import { formatDuration } from './incidentBook.ts';

/** What `vigil rules lint` says about each rule beyond validity: likely mistakes, as warnings. */
export function lintRules(cfg: CorrelationConfig): { summary: string[]; warnings: string[] } {
  const summary: string[] = [];
  const warnings: string[] = [];
  (cfg.rules as RuleConfig[]).forEach((r, i) => {
    const at = `correlation.rules[${i}] (${r.name})`;
    const by = r.group_by.length ? ` by ${r.group_by.join(', ')}` : '';
    switch (r.kind) {
      case 'threshold':
        summary.push(
          `${r.name}: threshold — ${r.sum ? `sum of ${r.sum}` : 'count'} ≥ ${r.threshold} within ${formatDuration(r.window)}${by}`,
        );
        if (r.bucket !== undefined && r.window % r.bucket !== 0)
          warnings.push(
            `${at}: bucket ${formatDuration(r.bucket)} does not divide window ${formatDuration(r.window)}; the window is rounded up to whole buckets`,
          );
        break;
      case 'pair':
        summary.push(
          `${r.name}: pair — down opens, up resolves${by}${r.deadline ? `, escalates after ${formatDuration(r.deadline)}` : ''}${r.flapping ? `, flapping at ${r.flapping.transitions} transitions in ${formatDuration(r.flapping.window)}` : ''}`,
        );
        if (r.member_by.length === 0 && (r.resolve === 'first' || r.resolve === 'last'))
          warnings.push(`${at}: resolve: ${r.resolve} only matters with member_by`);
        break;
      case 'absence':
        summary.push(`${r.name}: absence — silent for ${formatDuration(r.interval)}${by}`);
        if (r.interval < cfg.tick_interval)
          warnings.push(
            `${at}: interval ${formatDuration(r.interval)} is shorter than tick_interval ${formatDuration(cfg.tick_interval)}`,
          );
        break;
      case 'metric_threshold':
        summary.push(
          `${r.name}: metric_threshold — ${r.aggregation}(${r.metric}) over ${formatDuration(r.window)} ${r.op} ${r.value}${r.for ? ` for ${formatDuration(r.for)}` : ''}${by}`,
        );
        break;
      case 'spike':
        summary.push(
          `${r.name}: spike — ${formatDuration(r.window)} windows, ratio ≥ ${r.ratio}, at least ${r.min_count} events${by}`,
        );
        break;
      case 'dedup':
        summary.push(`${r.name}: dedup — repeats within ${formatDuration(r.dedup_window)}${by || ' by fingerprint'}`);
        break;
    }
    if (r.group_by.length === 0 && r.kind !== 'dedup')
      warnings.push(`${at}: no group_by: every matching event lands in one incident`);
    if (r.match.trim() === 'true' && r.kind !== 'metric_threshold' && r.kind !== 'pair')
      warnings.push(`${at}: no match: the rule looks at every event`);
    if (r.resolve === 'never')
      warnings.push(`${at}: resolve: never — its incidents stay open until a person resolves them`);
  });
  return { summary, warnings };
}
