import { obj, type Infer } from '../../config/schema.ts';
import { correlationSchema } from '../../correlation/config.ts';
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
