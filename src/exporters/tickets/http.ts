import { DeliveryError, parseRetryAfter } from './delivery.ts';

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

/** One HTTP exchange; a network failure or a timeout becomes a retryable DeliveryError. */
export async function send(req: HttpRequest): Promise<HttpResult> {
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.timeout(req.timeoutMs),
      redirect: 'manual',
    });
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    throw new DeliveryError(
      timedOut
        ? `${req.method} ${redact(req.url)} timed out after ${req.timeoutMs} ms`
        : `${req.method} ${redact(req.url)} failed: ${fetchFailure(err)}`,
      { retryable: true, cause: err },
    );
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new DeliveryError(
      `${req.method} ${redact(req.url)}: reading the response failed: ${(err as Error).message}`,
      { retryable: true, cause: err },
    );
  }
  return { status: res.status, headers: res.headers, text };
}

/**
 * undici says only "fetch failed"; why (refused, DNS, a certificate) is in `cause`, sometimes an
 * AggregateError of one error per address tried. The message carries it so logs and parked reasons say what to fix.
 */
export function fetchFailure(err: unknown): string {
  const e = err as Error & { cause?: unknown };
  const cause = e.cause as (Error & { code?: unknown; errors?: unknown }) | undefined;
  if (!cause || typeof cause !== 'object') return e.message;
  const first = Array.isArray(cause.errors) ? (cause.errors[0] as (Error & { code?: unknown }) | undefined) : undefined;
  const code = typeof cause.code === 'string' ? cause.code : typeof first?.code === 'string' ? first.code : undefined;
  const message = cause.message || first?.message || '';
  const detail = code && !message.includes(code) ? `${code} ${message}`.trim() : message;
  return detail ? `${e.message} (${detail})` : e.message;
}

/** Webhook URLs (Slack's) carry their secret in the path: logs and parked reasons show only the origin. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname.split('/').slice(0, 3).join('/')}…`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * The error for an unexpected answer: 408, 429 and 5xx are retried (after Retry-After when
 * given); other statuses mean the request itself is wrong, so retrying cannot help.
 */
export function httpFailure(what: string, res: HttpResult): DeliveryError {
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
  return new DeliveryError(`${what}: HTTP ${res.status} ${res.text.slice(0, 300)}`.trim(), {
    retryable,
    retryAfterMs,
    status: res.status,
  });
}

export function parseJson<T>(what: string, res: HttpResult): T {
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new DeliveryError(`${what}: HTTP ${res.status} with a body that is not JSON: ${res.text.slice(0, 200)}`, {
      retryable: true,
      status: res.status,
    });
  }
}

/**
 * Refused credentials or a missing permission (401, 403; any status of a login request with
 * `login: true`) last until an operator fixes them: the change is kept and retried, slowly, and
 * parked after `delivery.max_attempts`, with `hint` saying what to check.
 */
export function credentialsFailure(err: DeliveryError, hint: string, opts: { login?: boolean } = {}): DeliveryError {
  if (!opts.login && err.status !== 401 && err.status !== 403) return err;
  return new DeliveryError(`${err.message} (${hint})`, {
    retryable: true,
    retryAfterMs: err.retryAfterMs,
    status: err.status,
  });
}
