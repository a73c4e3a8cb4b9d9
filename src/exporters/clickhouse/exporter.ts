import { isAbsolute, join } from 'node:path';
import type { IncidentChange, MetricKind, MetricPoint, Span, VigilEvent } from '../../model/index.ts';
import { VigilError } from '../../errors.ts';
import type { CreateSettings } from '../../pipeline/component.ts';
import type { Signal } from '../../pipeline/signals.ts';
import { pruneLimits, PruneReport } from '../helper/prune.ts';
import { describeBacklog, type QueueBacklog } from '../helper/queue.ts';
import { ExporterTelemetry, type QueuedExporter } from '../helper/telemetry.ts';
import {
  DEFAULT_HEALTH_SETTINGS,
  formatAge,
  outage,
  type ComponentHealth,
  type HealthSettings,
} from '../../pipeline/health.ts';
import {
  AUTH_CODES,
  ClickHouseAuthError,
  ClickHouseError,
  ClickHouseTooOldError,
  isTransient,
  MIN_SERVER_VERSION,
  versionAtLeast,
  type ClickHouseBackend,
} from './backend.ts';
import { BatchWriter } from './batchWriter.ts';
import type { ClickHouseExporterConfig, TableNames } from './config.ts';
import { EmbeddedBackend } from './embeddedBackend.ts';
import {
  configureEmbeddedAllocator,
  EmbeddedMemoryMonitor,
  EMBEDDED_QUERY_ARGS,
  embeddedEngineArgs,
  embeddedMemoryBudget,
  INSERT_WORKING_MEMORY_FACTOR,
  sizeEmbeddedTables,
} from './embeddedMemory.ts';
import { ClickHouseQueries } from './query.ts';
import { RemoteBackend } from './remoteBackend.ts';
import { incidentEventRows, incidentRow, logRowsBytes, metricRowsBytes, spanRowsBytes } from './rows.ts';
import { logIndexChanges, schemaStatements, supportsTextIndexes, type SchemaOptions } from './schema.ts';
import { Spool } from './spool.ts';
import { registerSpoolGauges } from './spoolMetrics.ts';
import { TableBytes } from './tableBytes.ts';
import { redactUrl } from '../../telemetry/redact.ts';

/** Node's codes for a server certificate it cannot trust: a config problem, not an outage. */
const TLS_VERIFY_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
]);

const METRIC_TABLE: Record<MetricKind, keyof TableNames> = {
  gauge: 'metrics_gauge',
  sum: 'metrics_sum',
  histogram: 'metrics_histogram',
  exponential_histogram: 'metrics_exponential_histogram',
  summary: 'metrics_summary',
};

/**
 * Opens the backend a config asks for: a server when `endpoint` is set, else embedded chdb
 * under the data dir, sized to `memoryLimitBytes` (the memory limiter's ceiling) when given.
 */
export async function openBackend(
  config: ClickHouseExporterConfig,
  dataDir: string,
  configPath: string,
  memoryLimitBytes?: number,
): Promise<ClickHouseBackend> {
  if (config.endpoint) {
    return new RemoteBackend({
      url: config.endpoint,
      database: config.database,
      username: config.username,
      password: config.password,
      compression: config.compression,
      timeoutMs: config.timeout,
      maxOpenConnections: config.max_open_connections,
      tls: config.tls,
    });
  }
  configureEmbeddedAllocator();
  return EmbeddedBackend.open(isAbsolute(config.path) ? config.path : join(dataDir, config.path), configPath, [
    ...EMBEDDED_QUERY_ARGS,
    ...(memoryLimitBytes ? embeddedEngineArgs(memoryLimitBytes) : []),
  ]);
}

/**
 * Stores events, metric points, spans and incident changes in ClickHouse tables shaped like
 * the OTel Collector exporter's. consume*() resolves once the rows are in the exporter's spool
 * on disk; ClickHouse gets them in batches from there (see BatchWriter).
 */
export class ClickHouseExporter implements QueuedExporter {
  /** Counts rows sent when ClickHouse took their batch, failed when it was set aside. */
  readonly telemetry: ExporterTelemetry;
  private readonly settings: CreateSettings;
  private readonly config: ClickHouseExporterConfig;
  private readonly configPath: string;
  private backend_: ClickHouseBackend | undefined;
  private writer_: BatchWriter | undefined;
  private schemaReady = false;
  private unregisterGauges: (() => void) | undefined;
  private tableBytes: TableBytes | undefined;
  private readonly healthSettings: HealthSettings;
  private probeTimer: NodeJS.Timeout | undefined;
  private memoryMonitor: EmbeddedMemoryMonitor | undefined;
  private probing = false;
  /** Since when a probe of a remote ClickHouse has gone unanswered, and what it met. */
  private unreachableSince: number | undefined;
  private probeError = '';

  constructor(settings: CreateSettings, config: ClickHouseExporterConfig) {
    this.settings = settings;
    this.config = config;
    this.configPath = `exporters.${settings.id}`;
    this.healthSettings = settings.health ?? DEFAULT_HEALTH_SETTINGS;
    this.telemetry = new ExporterTelemetry(settings.metrics, settings.id);
  }

  get backend(): ClickHouseBackend {
    return this.backend_!;
  }

  get writer(): BatchWriter {
    return this.writer_!;
  }

  /** Bound-parameter queries over this exporter's tables. */
  queries(): ClickHouseQueries {
    return new ClickHouseQueries(this.backend, this.config.database, this.config.tables);
  }

  eventStore(): ClickHouseQueries {
    return this.queries();
  }

  async start(): Promise<void> {
    const { config, settings } = this;
    this.backend_ = await openBackend(config, settings.dataDir, this.configPath, settings.memoryLimitBytes);
    // Embedded, a batch is inserted in this process's memory: sized to the limiter's ceiling.
    const embedded =
      !config.endpoint && settings.memoryLimitBytes ? embeddedMemoryBudget(settings.memoryLimitBytes) : undefined;
    if (embedded && embedded.batchBytes < config.batch.max_bytes)
      settings.logger.info(
        {
          exporter: settings.id,
          batchMaxBytes: embedded.batchBytes,
          engineMaxMemory: embedded.server,
          memoryLimit: settings.memoryLimitBytes,
        },
        'embedded ClickHouse sized to the memory limit: smaller batches than batch.max_bytes',
      );
    const spoolDir = config.spool.dir
      ? isAbsolute(config.spool.dir)
        ? config.spool.dir
        : join(settings.dataDir, config.spool.dir)
      : join(settings.dataDir, 'clickhouse-spool', settings.id.replace(/[^A-Za-z0-9_.-]/g, '_'));
    const signalOf = signalByTable(config.tables);
    this.writer_ = new BatchWriter({
      id: settings.id,
      backend: this.backend_,
      database: config.database,
      spool: new Spool(spoolDir, config.spool.fsync),
      maxRows: config.batch.max_rows,
      maxBytes: Math.min(config.batch.max_bytes, embedded?.batchBytes ?? Number.POSITIVE_INFINITY),
      maxDelayMs: config.batch.max_delay,
      spoolMaxBytes: config.spool.max_bytes,
      retryInitialMs: config.retry.initial_interval,
      retryMaxMs: config.retry.max_interval,
      prepare: () => this.ensureSchema(),
      signalOf: (t) => signalOf.get(t) ?? 'logs',
      logger: settings.logger,
      telemetry: this.telemetry,
      rejected: {
        limits: pruneLimits(config.spool.rejected),
        report: new PruneReport(settings.metrics.registry, settings.logger, settings.id, 'rejected'),
      },
    });
    try {
      await this.ensureSchema();
    } catch (err) {
      if (err instanceof ClickHouseError && AUTH_CODES.has(err.clickhouseCode)) {
        await this.backend_.close();
        throw new ClickHouseAuthError(this.backend_.description, config.username, err.message, this.configPath);
      }
      if (TLS_VERIFY_CODES.has((err as { code?: string }).code ?? '')) {
        await this.backend_.close();
        throw new VigilError(
          'VIGIL_CLICKHOUSE_TLS',
          `cannot verify the TLS certificate of ${redactUrl(config.endpoint ?? '')}: ${(err as Error).message}. Set ${this.configPath}.tls.ca_file to the CA that signed it`,
          { cause: err },
        );
      }
      if (!config.endpoint || err instanceof ClickHouseTooOldError) {
        await this.backend_.close();
        throw err;
      }
      if (err instanceof ClickHouseError && !isTransient(err)) {
        // The server answered and refused: retrying the same DDL would fail the same way.
        await this.backend_.close();
        throw new VigilError(
          'VIGIL_CLICKHOUSE_SCHEMA',
          `ClickHouse at ${redactUrl(config.endpoint)} refused Vigil's schema: ${err.message}. Fix the server side, or set ${this.configPath}.create_schema: false and create the tables yourself`,
          { cause: err },
        );
      }
      // A server that is down at start is an outage like any other: rows spool until it is back.
      this.unreachableSince = Date.now();
      this.probeError = (err as Error).message;
      settings.logger.warn(
        { err, exporter: settings.id, endpoint: redactUrl(config.endpoint) },
        'ClickHouse unreachable at start; spooling until it answers',
      );
    }
    await this.writer_.start();
    this.unregisterGauges = registerSpoolGauges(settings.metrics, settings.id, this.writer_);
    this.tableBytes = new TableBytes(
      settings.metrics.registry,
      settings.id,
      this.backend_,
      config.database,
      settings.logger,
    );
    // Not awaited: a server down at start would hold the start for a request timeout.
    void this.tableBytes.start();
    if (embedded && settings.nativeMemory) {
      this.memoryMonitor = new EmbeddedMemoryMonitor(
        'embedded_clickhouse',
        this.backend_,
        settings.nativeMemory,
        embedded.batchBytes * INSERT_WORKING_MEMORY_FACTOR,
      );
      this.memoryMonitor.start();
    }
    if (config.endpoint) {
      // Inserts only tell about the server while there are rows; the probe tells in between.
      this.probeTimer = setInterval(() => void this.probe(), this.healthSettings.checkIntervalMs);
      this.probeTimer.unref();
    }
    settings.logger.info(
      { exporter: settings.id, clickhouse: this.backend_.description, database: config.database, spool: spoolDir },
      'ClickHouse exporter started',
    );
  }

  /** Whether the logs table gets text indexes (`log_indexes`; `auto`: on a server that has them, not embedded). */
  private textIndexes(version: string): boolean {
    const wanted = this.config.log_indexes;
    if (wanted === 'bloom') return false;
    if (wanted === 'auto') return Boolean(this.config.endpoint) && supportsTextIndexes(version);
    if (!supportsTextIndexes(version))
      throw new ClickHouseTooOldError(
        this.backend.description,
        version,
        'log_indexes: text needs 26.2 or newer; set log_indexes to bloom or auto, or upgrade the server',
      );
    return true;
  }

  /**
   * Embedded tables only (Vigil's own data dir): the logs table an older Vigil or another
   * `log_indexes` made gets the indexes of this one, so an upgraded agent stops paying for text
   * indexes it no longer builds. A server's tables are the operators' and stay as they are.
   */
  private async alignLogIndexes(schema: SchemaOptions): Promise<void> {
    const existing = await this.backend.select<{ name: string; type: string }>(
      'SELECT name, type FROM system.data_skipping_indices WHERE database = {db:String} AND table = {table:String}',
      { db: schema.database, table: schema.tables.logs },
    );
    const changes = logIndexChanges(schema, existing);
    if (changes.length === 0) return;
    for (const sql of changes) await this.backend.command(sql);
    this.settings.logger.info(
      {
        exporter: this.settings.id,
        table: schema.tables.logs,
        indexes: changes.length / 2,
        kind: this.config.log_indexes,
      },
      `replaced the logs table's indexes by ${schema.textIndexes ? 'text' : 'bloom filter'} ones (log_indexes)`,
    );
  }

  private async ensureSchema(): Promise<void> {
    if (this.schemaReady) return;
    const b = this.backend;
    const version = await b.version();
    if (!versionAtLeast(version, ...MIN_SERVER_VERSION)) throw new ClickHouseTooOldError(b.description, version);
    if (this.config.create_schema) {
      const schema: SchemaOptions = {
        database: this.config.database,
        tables: this.config.tables,
        cluster: this.config.cluster,
        distributed: this.config.distributed,
        ttlMs: this.config.ttl,
        incidentsTtlMs: this.config.incidents_ttl,
        textIndexes: this.textIndexes(version),
      };
      for (const sql of schemaStatements(schema)) await b.command(sql);
      if (!this.config.endpoint) await this.alignLogIndexes(schema);
    }
    if (!this.config.endpoint && this.settings.memoryLimitBytes) await sizeEmbeddedTables(b, this.config.database);
    this.schemaReady = true;
  }

  consumeLogs = (batch: VigilEvent[]): Promise<void> =>
    this.writer.write(this.config.tables.logs, logRowsBytes(batch), batch.length);

  consumeTraces = (batch: Span[]): Promise<void> =>
    this.writer.write(this.config.tables.traces, spanRowsBytes(batch), batch.length);

  consumeMetrics = async (batch: MetricPoint[]): Promise<void> => {
    for (const [kind, { data, rows }] of metricRowsBytes(batch))
      await this.writer.write(this.config.tables[METRIC_TABLE[kind]], data, rows);
  };

  consumeIncidents = async (batch: IncidentChange[]): Promise<void> => {
    let incidents = '';
    let links = '';
    let linkRows = 0;
    for (const c of batch) {
      incidents += incidentRow(c);
      links += incidentEventRows(c);
      linkRows += Math.max(c.eventIds.length, 1);
    }
    await this.writer.write(this.config.tables.incidents, Buffer.from(incidents), batch.length);
    await this.writer.write(this.config.tables.incident_events, Buffer.from(links), linkRows);
  };

  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      await this.backend.version();
      if (this.unreachableSince !== undefined) {
        this.unreachableSince = undefined;
        // Back: the spool need not wait out the rest of a long retry backoff.
        if (this.writer.failing) this.writer.retryNow();
      }
    } catch (err) {
      this.unreachableSince ??= Date.now();
      this.probeError = err instanceof Error ? err.message : String(err);
    } finally {
      this.probing = false;
    }
  }

  backlog(): QueueBacklog {
    return this.writer_?.backlog() ?? { items: 0, bytes: 0, oldestAcceptedAtMs: undefined };
  }

  /**
   * Failing while the spool is full (writes wait, receivers refuse data), while ClickHouse has
   * failed inserts or probes for `failing_after` (degraded before that), or while no batch has
   * left the spool for that long; the spool's backlog and oldest batch age in every state.
   */
  health(): ComponentHealth {
    const w = this.writer_;
    if (!w) return { status: 'failing', reason: 'not started' };
    const now = Date.now();
    const { oldestAgeMs, text: backlog } = describeBacklog(w.backlog(), now, { kept: 'spooled', accepted: 'written' });
    const details = {
      spooledBytes: w.spooledBytes,
      spoolMaxBytes: this.config.spool.max_bytes,
      pendingBatches: w.pendingBatches,
      oldestBatchAgeSeconds: Math.round(oldestAgeMs / 100) / 10,
    };
    if (!w.hasRoom) {
      return {
        status: 'failing',
        reason: `spool full (${w.spooledBytes} of ${this.configPath}.spool.max_bytes ${this.config.spool.max_bytes} bytes): writes wait and receivers refuse data until ClickHouse takes some; ${backlog}`,
        details,
      };
    }
    const where = this.backend_?.description ?? 'ClickHouse';
    const faults: { since: number; what: string }[] = [];
    if (w.failingSince !== undefined)
      faults.push({ since: w.failingSince, what: `inserts into ClickHouse at ${where} fail: ${w.lastError}` });
    // An insert that went through since the probe last failed says more than that probe did.
    if (this.unreachableSince !== undefined && (w.lastInsertAt ?? 0) < this.unreachableSince)
      faults.push({ since: this.unreachableSince, what: `ClickHouse at ${where} does not answer: ${this.probeError}` });
    if (faults.length) {
      const since = Math.min(...faults.map((f) => f.since));
      return outage(
        since,
        now,
        this.healthSettings,
        `${faults.map((f) => f.what).join('; ')}; rows spool on disk meanwhile, ${backlog}`,
        details,
      );
    }
    if (w.waitingSince !== undefined && now - w.waitingSince >= this.healthSettings.failingAfterMs) {
      return {
        status: 'failing',
        reason: `spool stalled: no batch has left it for ${formatAge(now - w.waitingSince)}; ${backlog}`,
        since: w.waitingSince,
        details,
      };
    }
    return { status: 'ok', details };
  }

  /** Reads the tables' disk use now, as the minute timer does. */
  refreshTableBytes(): Promise<void> {
    return this.tableBytes?.refresh() ?? Promise.resolve();
  }

  async shutdown(): Promise<void> {
    clearInterval(this.probeTimer);
    this.memoryMonitor?.stop();
    this.unregisterGauges?.();
    this.tableBytes?.stop();
    await this.writer_?.close();
    await this.backend_?.close();
  }
}

function signalByTable(t: TableNames): Map<string, Signal> {
  const m = new Map<string, Signal>([
    [t.logs, 'logs'],
    [t.traces, 'traces'],
    [t.incidents, 'incidents'],
    [t.incident_events, 'incidents'],
  ]);
  for (const k of Object.values(METRIC_TABLE)) m.set(t[k], 'metrics');
  return m;
}
