import { isAbsolute, join } from 'node:path';
import type { Counter } from 'prom-client';
import type { Attributes } from '../../model/attributes.ts';
import type { VigilEvent } from '../../model/event.ts';
import {
  compileCondition,
  compileValue,
  copyValue,
  setOwn,
  stringLike,
  type Getter,
  type Predicate,
} from '../../ottl/index.ts';
import type { CreateSettings, Processor } from '../../pipeline/component.ts';
import { processorCounter } from '../selfMetrics.ts';
import type { EnrichConfig } from './config.ts';
import { HttpLookup, type HttpLookupOptions } from './httpLookup.ts';
import { LookupTable } from './lookupTable.ts';

/**
 * Adds attributes (owner, site, criticality, parent…) to events from a lookup table, then
 * from an HTTP lookup for keys the table does not hold.
 */
export class EnrichProcessor implements Processor<VigilEvent> {
  readonly table: LookupTable | undefined;
  readonly http: HttpLookup | undefined;
  private readonly config: EnrichConfig;
  private readonly settings: CreateSettings;
  private readonly key: Getter<VigilEvent>;
  private readonly where: Predicate<VigilEvent> | undefined;
  private readonly mapping: [attribute: string, field: string][] | undefined;
  private readonly keyField: string | undefined;
  private readonly lookups: Counter<'processor' | 'source' | 'outcome'>;
  private readonly reloads: Counter<'processor' | 'outcome'>;

  constructor(settings: CreateSettings, config: EnrichConfig, httpOptions: HttpLookupOptions = {}) {
    this.settings = settings;
    this.config = config;
    this.key = compileValue(config.key, 'event');
    this.where = config.where === undefined ? undefined : compileCondition(config.where, 'event');
    const entries = Object.entries(config.attributes);
    this.mapping = entries.length ? entries : undefined;
    this.keyField = config.table?.key_field;
    this.lookups = processorCounter(
      settings.metrics,
      'vigil_enrich_lookups_total',
      'Enrich lookups by source (table, http) and outcome (found, not_found, error, skipped while the HTTP service is paused after failures).',
      ['processor', 'source', 'outcome'],
    );
    this.reloads = processorCounter(
      settings.metrics,
      'vigil_enrich_table_reloads_total',
      'Lookup table reloads after a file change, by outcome (ok, error: the previous table stays).',
      ['processor', 'outcome'],
    );
    if (config.table) {
      const path = isAbsolute(config.table.path) ? config.table.path : join(settings.dataDir, config.table.path);
      this.table = new LookupTable(path, config.table.format, config.table.key_field, config.table.check_interval);
      this.table.on('reload', (rows) => {
        this.reloads.inc({ processor: settings.id, outcome: 'ok' });
        settings.logger.info({ processor: settings.id, table: path, rows }, 'lookup table reloaded');
      });
      this.table.on('reloadError', (err) => {
        this.reloads.inc({ processor: settings.id, outcome: 'error' });
        settings.logger.error(
          { processor: settings.id, table: path, err },
          'lookup table not reloaded; keeping the previous one',
        );
      });
    }
    if (config.http) {
      this.http = new HttpLookup(config.http, {
        ...httpOptions,
        onOutcome: (outcome, err) => {
          this.lookups.inc({ processor: settings.id, source: 'http', outcome });
          if (err) settings.logger.warn({ processor: settings.id, err: (err as Error).message }, 'HTTP lookup failed');
          httpOptions.onOutcome?.(outcome, err);
        },
      });
    }
  }

  async start(): Promise<void> {
    await this.table?.start();
  }

  async shutdown(): Promise<void> {
    this.table?.stop();
  }

  async process(batch: VigilEvent[]): Promise<VigilEvent[]> {
    const id = this.settings.id;
    let misses: { e: VigilEvent; url: string }[] | undefined;
    let tableFound = 0;
    let tableMissed = 0;
    for (const e of batch) {
      if (this.where && !this.where(e)) continue;
      const key = stringLike(this.key(e));
      if (key === undefined || key === '') continue;
      if (this.table) {
        const row = this.table.get(key);
        if (row) {
          tableFound++;
          this.apply(e, row);
          continue;
        }
        tableMissed++;
      }
      if (this.http) {
        const url = this.http.url(e);
        if (url === undefined) continue;
        const cached = this.http.cached(url);
        if (cached) this.apply(e, cached);
        else if (cached === undefined) (misses ??= []).push({ e, url });
      }
    }
    if (tableFound) this.lookups.inc({ processor: id, source: 'table', outcome: 'found' }, tableFound);
    if (tableMissed) this.lookups.inc({ processor: id, source: 'table', outcome: 'not_found' }, tableMissed);
    if (misses) {
      await this.http!.prefetch(new Set(misses.map((m) => m.url)));
      for (const { e, url } of misses) {
        const row = this.http!.cached(url);
        if (row) this.apply(e, row);
      }
    }
    return batch;
  }

  private apply(e: VigilEvent, row: Attributes): void {
    const attrs = e.attributes;
    const overwrite = this.config.overwrite;
    if (this.mapping) {
      for (const [attr, field] of this.mapping) {
        if (!Object.hasOwn(row, field)) continue;
        if (overwrite || !Object.hasOwn(attrs, attr)) setOwn(attrs, attr, copyValue(row[field]!));
      }
      return;
    }
    for (const field of Object.keys(row)) {
      if (field === this.keyField) continue;
      if (overwrite || !Object.hasOwn(attrs, field)) setOwn(attrs, field, copyValue(row[field]!));
    }
  }
}
