import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../telemetry/logger.ts';
import type { ClickHouseBackend } from './backend.ts';

/** How often the disk use of the tables is read: system.parts is cheap, but not per scrape. */
export const TABLE_BYTES_REFRESH_MS = 60_000;

const gauges = new WeakMap<Registry, Gauge<'exporter' | 'table'>>();

function gauge(registry: Registry): Gauge<'exporter' | 'table'> {
  let g = gauges.get(registry);
  if (!g) {
    g = new Gauge({
      name: 'vigil_clickhouse_table_bytes',
      help: "Bytes on disk of each of the exporter's tables (active parts, compressed), read from system.parts every minute.",
      labelNames: ['exporter', 'table'],
      registers: [registry],
    });
    gauges.set(registry, g);
  }
  return g;
}

/**
 * `vigil_clickhouse_table_bytes{exporter,table}`: what retention (`ttl`) is to be sized
 * against. Read at start and then every minute; a failed read keeps the last figures (the
 * exporter's health says why ClickHouse does not answer).
 */
export class TableBytes {
  private readonly gauge: Gauge<'exporter' | 'table'>;
  private timer: NodeJS.Timeout | undefined;
  private readonly tables = new Set<string>();
  private readonly exporter: string;
  private readonly backend: ClickHouseBackend;
  private readonly database: string;
  private readonly logger: Logger;

  constructor(registry: Registry, exporter: string, backend: ClickHouseBackend, database: string, logger: Logger) {
    this.gauge = gauge(registry);
    this.exporter = exporter;
    this.backend = backend;
    this.database = database;
    this.logger = logger;
  }

  start(intervalMs = TABLE_BYTES_REFRESH_MS): Promise<void> {
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
    return this.refresh();
  }

  async refresh(): Promise<void> {
    let rows: { table: string; bytes: string | number }[];
    try {
      rows = await this.backend.select<{ table: string; bytes: string | number }>(
        'SELECT table, sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = {db:String} AND active GROUP BY table',
        { db: this.database },
      );
    } catch (err) {
      this.logger.debug({ err, exporter: this.exporter }, 'ClickHouse table sizes could not be read');
      return;
    }
    for (const r of rows) {
      this.tables.add(r.table);
      this.gauge.set({ exporter: this.exporter, table: r.table }, Number(r.bytes));
    }
  }

  stop(): void {
    clearInterval(this.timer);
    for (const table of this.tables) this.gauge.remove({ exporter: this.exporter, table });
  }
}
