import type { CreateSettings, Extension } from '../../pipeline/component.ts';
import { HEALTHY, type ComponentHealth } from '../../pipeline/health.ts';
import { agentName, type RedisConnectionConfig } from '../../state/redisConfig.ts';
import { createRedisClient, type RedisClient } from '../../state/redisConnection.ts';
import type { SharedRedis } from './sharedRedis.ts';

/**
 * The `redis_state` extension: owns one Redis connection for the agent. It connects before any
 * pipeline starts and closes after every one has stopped, so the ticket exporters, which stop
 * last, still reach their ledger while they drain. A Redis out of reach never stops the start:
 * the client reconnects, and each user waits or works on local state meanwhile, as it would alone.
 */
export class RedisStateExtension implements Extension, SharedRedis {
  readonly client: RedisClient;
  readonly config: RedisConnectionConfig;
  readonly agent: string;
  private readonly settings: CreateSettings;
  private downSince: number | undefined;

  constructor(settings: CreateSettings, config: RedisConnectionConfig) {
    this.settings = settings;
    this.config = config;
    this.agent = agentName(config);
    this.client = createRedisClient(config);
  }

  async start(): Promise<void> {
    const { logger } = this.settings;
    this.client.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
    this.client.on('ready', () => {
      this.downSince = undefined;
    });
    this.client.on('close', () => {
      this.downSince ??= Date.now();
    });
    try {
      await this.client.connect();
      logger.info({ prefix: this.config.prefix, agent: this.agent }, 'connected to redis');
    } catch (err) {
      this.downSince ??= Date.now();
      logger.warn({ err }, 'redis unreachable at start: its users work on local state or wait until it is up');
    }
  }

  redisState(): SharedRedis {
    return this;
  }

  /** Degraded, never failing, while Redis is out of reach: every user of the connection carries on without it. */
  health(): ComponentHealth {
    if (this.client.status === 'ready') return HEALTHY;
    return {
      status: 'degraded',
      reason: 'Redis unreachable: correlation runs on local state and ticket changes wait for the shared ledger',
      ...(this.downSince !== undefined ? { since: this.downSince } : {}),
    };
  }

  async shutdown(): Promise<void> {
    await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}
