import type { TicketLedger } from '../../exporters/tickets/ledger.ts';
import type { CreateSettings, Extension } from '../../pipeline/component.ts';
import type { Host } from '../../pipeline/host.ts';
import { openRedisTicketLedger, type RedisTicketLedger } from '../../state/redisTicketLedger.ts';
import type { SharedRedis } from '../redisState/sharedRedis.ts';
import type { TicketLedgerConfig } from './config.ts';

/**
 * The `ticket_ledger` extension: hands each incident exporter naming it the ledger in its
 * `redis_state` extension's Redis. Each exporter gets a ledger of its own (its records and claims
 * are its own), all on one connection; the extension gives back their claims at shutdown.
 */
export class TicketLedgerExtension implements Extension {
  private readonly config: TicketLedgerConfig;
  private redis: SharedRedis | undefined;
  private readonly ledgers: RedisTicketLedger[] = [];

  constructor(_settings: CreateSettings, config: TicketLedgerConfig) {
    this.config = config;
  }

  async start(host: Host): Promise<void> {
    this.redis = host.redisState(this.config.redis_state);
  }

  ticketLedger(exporter: string, users: readonly string[]): TicketLedger {
    if (!this.redis) throw new Error('the ticket_ledger extension was asked for a ledger before it started');
    // Records written before they were an exporter's own can only be the tickets of a lone exporter.
    const unscoped = users.length === 1 && users[0] === exporter;
    const ledger = openRedisTicketLedger(this.redis.client, this.redis.config, this.redis.agent, {
      exporter,
      unscoped,
    });
    this.ledgers.push(ledger);
    return ledger;
  }

  async shutdown(): Promise<void> {
    await Promise.allSettled(this.ledgers.map((l) => l.close()));
  }
}
