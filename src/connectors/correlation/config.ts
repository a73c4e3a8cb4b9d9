import { obj, type ConfigIssue, type Infer } from '../../config/schema.ts';
import { correlationSchema, type CorrelationConfig } from '../../correlation/config.ts';
import { validateCorrelation } from '../../correlation/configSection.ts';
import { redisStateSchema } from '../../state/redisConfig.ts';

/**
 * The correlation connector's config: the core's rules and policies, plus where the daemon keeps
 * their state (`state:`), which the core never sees: it only gets a StateStore.
 */
export const correlationConnectorSchema = obj({
  ...correlationSchema.shape,
  state: redisStateSchema,
});

export type CorrelationConnectorConfig = Infer<typeof correlationConnectorSchema>;

/**
 * What `sharing: partitions` cannot do (yet), as config issues at the paths that ask for it: the
 * features that look at incidents of several groups at once (one partition's engine sees its own
 * groups only).
 */
function partitionsIssues(cfg: CorrelationConfig, path: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const why = 'with state.sharing: partitions, each agent sees only the groups of the partitions it holds';
  if (cfg.inhibit.length > 0) issues.push({ path: `${path}.inhibit`, message: `is not supported: ${why}` });
  if (cfg.topology !== undefined) issues.push({ path: `${path}.topology`, message: `is not supported: ${why}` });
  return issues;
}

/** The rules, and under `state.sharing: partitions` what the owners design cannot do. */
export function validateCorrelationConnector(cfg: CorrelationConnectorConfig, path: string): ConfigIssue[] {
  const issues = validateCorrelation(cfg, path);
  if (cfg.state.sharing !== 'partitions') return issues;
  if (cfg.state.store !== 'redis' && cfg.state.extension === undefined)
    issues.push({
      path: `${path}.state.sharing`,
      message: 'partitions needs store: redis (or a redis_state extension)',
    });
  return [...issues, ...partitionsIssues(cfg, path)];
}
