import { obj, type ConfigIssue, type Infer } from '../../config/schema.ts';
import { correlationSchema } from '../../correlation/config.ts';
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

/** The rules, and under `state.sharing: partitions` the store it needs. */
export function validateCorrelationConnector(cfg: CorrelationConnectorConfig, path: string): ConfigIssue[] {
  const issues = validateCorrelation(cfg, path);
  if (cfg.state.sharing !== 'partitions') return issues;
  if (cfg.state.store !== 'redis' && cfg.state.extension === undefined)
    issues.push({
      path: `${path}.state.sharing`,
      message: 'partitions needs store: redis (or a redis_state extension)',
    });
  return issues;
}
