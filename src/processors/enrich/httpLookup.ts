import { LRUCache } from 'lru-cache';
import type { Attributes } from '../../model/attributes.ts';
import type { VigilEvent } from '../../model/event.ts';
import { compileTemplate, type CompiledTemplate } from '../../ottl/index.ts';
import type { HttpLookupConfig } from './config.ts';

export type LookupOutcome = 'found' | 'not_found' | 'error' | 'skipped';

/** A cached "no row" (404 or failure); lru-cache cannot hold undefined. */
const NO_ROW: Attributes = Object.freeze({}) as Attributes;
const FAILURES_BEFORE_PAUSE = 3;

export interface HttpLookupOptions {
  now?: () => number;
  onOutcome?: (outcome: LookupOutcome, err?: unknown) => void;
}

/**
 * Looks rows up over HTTP by a URL rendered from the event. Answers are cached per URL (LRU
 * with TTL); requests for one URL are shared while in flight; concurrency is bounded; and after
 * a few failures in a row lookups pause for `error_ttl`, so a slow or down service costs a
 * batch at most about one `timeout` and then nothing until it is tried again.
 */
export class HttpLookup {
  private readonly config: HttpLookupConfig;
  private readonly template: CompiledTemplate<VigilEvent>;
  private readonly cache: LRUCache<string, Attributes>;
  private readonly inFlight = new Map<string, Promise<Attributes>>();
  private readonly now: () => number;
  private readonly onOutcome: (outcome: LookupOutcome, err?: unknown) => void;
  private consecutiveFailures = 0;
  private pausedUntil = 0;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(config: HttpLookupConfig, opts: HttpLookupOptions = {}) {
    this.config = config;
    this.template = compileTemplate(config.url, 'event', { encode: encodeURIComponent });
    this.now = opts.now ?? Date.now;
    this.onOutcome = opts.onOutcome ?? (() => {});
    // The cache's TTLs run on the injected clock, so tests advance time instead of sleeping.
    this.cache = new LRUCache<string, Attributes>({ max: config.cache_size, ttl: config.ttl, ttlResolution: 0, perf: { now: () => this.now() } });
  }

  url(e: VigilEvent): string {
    return this.template.render(e);
  }

  /** The cached answer for a URL: a row, null for a known "no row", undefined when not cached. */
  cached(url: string): Attributes | null | undefined {
    const row = this.cache.get(url);
    if (row === undefined) return undefined;
    return row === NO_ROW ? null : row;
  }

  /** Fetches every URL not cached yet; resolves when all have an answer or failed. */
  async prefetch(urls: Iterable<string>): Promise<void> {
    const pending: Promise<Attributes>[] = [];
    for (const url of urls) {
      if (this.cache.has(url)) continue;
      pending.push(this.inFlight.get(url) ?? this.start(url));
    }
    await Promise.all(pending);
  }

  private start(url: string): Promise<Attributes> {
    const p = this.fetchRow(url).finally(() => this.inFlight.delete(url));
    this.inFlight.set(url, p);
    return p;
  }

  private async fetchRow(url: string): Promise<Attributes> {
    if (this.now() < this.pausedUntil) {
      this.onOutcome('skipped');
      return NO_ROW;
    }
    await this.slot();
    try {
      const res = await fetch(url, { headers: { accept: 'application/json', ...this.config.headers }, signal: AbortSignal.timeout(this.config.timeout) });
      if (res.status === 404) {
        await res.body?.cancel();
        this.succeeded();
        this.onOutcome('not_found');
        this.cache.set(url, NO_ROW);
        return NO_ROW;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status} from ${url}`);
      }
      const body = (await res.json()) as unknown;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error(`expected a JSON object from ${url}, got ${Array.isArray(body) ? 'an array' : typeof body}`);
      this.succeeded();
      this.onOutcome('found');
      const row = body as Attributes;
      this.cache.set(url, row);
      return row;
    } catch (err) {
      this.failed();
      this.onOutcome('error', err);
      this.cache.set(url, NO_ROW, { ttl: this.config.error_ttl });
      return NO_ROW;
    } finally {
      this.release();
    }
  }

  private succeeded(): void {
    this.consecutiveFailures = 0;
  }

  private failed(): void {
    if (++this.consecutiveFailures >= FAILURES_BEFORE_PAUSE) {
      this.pausedUntil = this.now() + this.config.error_ttl;
      this.consecutiveFailures = 0;
    }
  }

  private slot(): Promise<void> {
    if (this.active < this.config.max_concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
