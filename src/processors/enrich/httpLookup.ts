import { LRUCache } from 'lru-cache';
import type { Attributes } from '../../model/attributes.ts';
import type { VigilEvent } from '../../model/event.ts';
import { compileTemplate, type CompiledTemplate } from '../../ottl/index.ts';
import type { HttpLookupConfig } from './config.ts';

export type LookupOutcome = 'found' | 'not_found' | 'error' | 'skipped';

/** A cached "no row" (404 or failure); lru-cache cannot hold undefined. */
const NO_ROW: Attributes = Object.freeze({}) as Attributes;
const FAILURES_BEFORE_PAUSE = 3;
/** Same-origin redirects followed per lookup; a redirect to another origin is never followed. */
const MAX_REDIRECTS = 3;

/** A value that would be a dot segment (`.`, `..`) in the path: URL parsers resolve those, so event data could pick another endpoint. */
class DotSegmentError extends Error {}

function encodeSegment(value: string): string {
  if (value === '.' || value === '..')
    throw new DotSegmentError(`${JSON.stringify(value)} would be a dot segment of the lookup URL`);
  return encodeURIComponent(value);
}

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
  /** Where lookups may go: the configured URL's origin, so a redirect elsewhere never gets the headers. */
  private readonly origin: string;
  /** Lookups started in the current second, against `max_requests_per_second`. */
  private windowStart = 0;
  private windowCount = 0;
  private consecutiveFailures = 0;
  private pausedUntil = 0;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(config: HttpLookupConfig, opts: HttpLookupOptions = {}) {
    this.config = config;
    this.template = compileTemplate(config.url, 'event', { encode: encodeSegment });
    this.origin = new URL(config.url.replace(/\{\{[^}]*\}\}/g, 'x')).origin;
    this.now = opts.now ?? Date.now;
    this.onOutcome = opts.onOutcome ?? (() => {});
    // The cache's TTLs run on the injected clock, so tests advance time instead of sleeping.
    this.cache = new LRUCache<string, Attributes>({
      max: config.cache_size,
      ttl: config.ttl,
      ttlResolution: 0,
      perf: { now: () => this.now() },
    });
  }

  /** The lookup URL for an event; undefined when the event's values cannot make a safe one (a dot segment). */
  url(e: VigilEvent): string | undefined {
    try {
      return this.template.render(e);
    } catch (err) {
      if (err instanceof DotSegmentError) {
        this.onOutcome('skipped', err);
        return undefined;
      }
      throw err;
    }
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
    if (this.now() < this.pausedUntil || !this.withinRate()) {
      this.onOutcome('skipped');
      return NO_ROW;
    }
    await this.slot();
    try {
      const res = await this.fetchSameOrigin(url);
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
      const body = JSON.parse(await readCapped(res, this.config.max_response_size, url)) as unknown;
      if (body === null || typeof body !== 'object' || Array.isArray(body))
        throw new Error(`expected a JSON object from ${url}, got ${Array.isArray(body) ? 'an array' : typeof body}`);
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

  /** Follows redirects by hand: within the configured origin only, so credentials never leave it. */
  private async fetchSameOrigin(url: string): Promise<Response> {
    const signal = AbortSignal.timeout(this.config.timeout);
    let target = url;
    for (let hop = 0; ; hop++) {
      const res = await fetch(target, {
        headers: { accept: 'application/json', ...this.config.headers },
        signal,
        redirect: 'manual',
      });
      if (res.status < 300 || res.status > 399 || res.status === 304) return res;
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (!location) throw new Error(`HTTP ${res.status} without a Location from ${target}`);
      const next = new URL(location, target);
      if (next.origin !== this.origin)
        throw new Error(
          `${target} redirects to another origin (${next.origin}); not followed, so the lookup's headers stay with ${this.origin}`,
        );
      if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`);
      target = next.toString();
    }
  }

  /** A fixed one-second window: past the limit, lookups are skipped (not cached) until the next second. */
  private withinRate(): boolean {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    return ++this.windowCount <= this.config.max_requests_per_second;
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

/** The body as text, refusing one longer than `max` bytes without reading past it. */
async function readCapped(res: Response, max: number, url: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel();
    throw new Error(`the answer from ${url} is ${declared} bytes, over max_response_size (${max})`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > max) throw new Error(`the answer from ${url} is over max_response_size (${max} bytes)`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
