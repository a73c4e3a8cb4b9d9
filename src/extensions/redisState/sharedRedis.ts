import type { RedisConnectionConfig } from '../../state/redisConfig.ts';
import type { RedisClient } from '../../state/redisConnection.ts';

/** What a `redis_state` extension lends the components that name it: one connection and its settings. */
export interface SharedRedis {
  /** Connected by the extension at its start, closed at its shutdown, after every component using it has stopped. */
  readonly client: RedisClient;
  readonly config: RedisConnectionConfig;
  /** The name of this agent in shared state (`agent_id`, else the host name). */
  readonly agent: string;
}
