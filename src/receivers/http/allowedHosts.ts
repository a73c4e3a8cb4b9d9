import type { FastifyInstance } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { list, optional, str } from '../../config/schema.ts';
import type { Endpoint } from '../../config/schema.ts';
import type { RateLimitedWarn } from '../../telemetry/rateLimitedLog.ts';

// A host name, an IPv4 address or a bracketed IPv6 address, with an optional port; or `*`.
const HOST_ENTRY = /^(\*|(\*\.)?[A-Za-z0-9_.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?)$/;

export const allowedHostsField = optional(
  list(
    str({
      pattern: HOST_ENTRY,
      patternHint: 'a host name or address, optionally with `:port` (IPv6 in brackets), `*.` before a domain, or `*`',
    }),
    {
      minItems: 1,
      doc: 'Host header values this listener answers (`name` matches any port, `name:port` only that one, `*.example.com` its subdomains, `*` anything); other requests get 421 Misdirected Request. Defends against DNS rebinding: a web page whose name an attacker points at this address can otherwise make a browser send to it and, being same-origin, read the answers. Default: on a loopback address, `localhost`, `127.0.0.1`, `[::1]` and the bound address; on any other address, every host (list the names clients use to turn the check on).',
    },
  ),
);

const LOOPBACK = /^(localhost|127(\.[0-9]{1,3}){3}|::1|\[::1\])$/i;

/** The names a listener on `endpoint` answers when `allowed_hosts` is not set: undefined is every name. */
export function defaultAllowedHosts(endpoint: Endpoint): string[] | undefined {
  if (!LOOPBACK.test(endpoint.host)) return undefined;
  const bound = endpoint.host.includes(':') && !endpoint.host.startsWith('[') ? `[${endpoint.host}]` : endpoint.host;
  return [...new Set(['localhost', '127.0.0.1', '[::1]', bound.toLowerCase()])];
}

/** Splits `name[:port]` or `[v6][:port]` into a lower-case name (no trailing dot) and port. */
function splitHost(value: string): { name: string; port: string | undefined } | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::([0-9]*))?$/.exec(value.trim());
  if (!m || m[1] === '') return undefined;
  return { name: m[1]!.toLowerCase().replace(/\.$/, ''), port: m[2] || undefined };
}

/** A predicate over Host header values; undefined when every host is allowed. */
export function hostMatcher(
  allowed: readonly string[] | undefined,
): ((host: string | undefined) => boolean) | undefined {
  if (allowed === undefined || allowed.includes('*')) return undefined;
  const entries = allowed.map((a) => splitHost(a)!);
  return (host) => {
    const h = host === undefined ? undefined : splitHost(host);
    if (!h) return false;
    return entries.some(
      (e) =>
        (e.port === undefined || e.port === h.port) &&
        (e.name === h.name || (e.name.startsWith('*.') && h.name.endsWith(e.name.slice(1)))),
    );
  };
}

const COUNTER = 'vigil_http_host_refused_total';

function refusedCounter(registry: Registry): Counter<'listener'> {
  return (
    (registry.getSingleMetric(COUNTER) as Counter<'listener'> | undefined) ??
    new Counter({
      name: COUNTER,
      help: 'HTTP requests refused with 421 because their Host header is not in the listener’s allowed_hosts (DNS rebinding, misrouted clients).',
      labelNames: ['listener'],
      registers: [registry],
    })
  );
}

export interface HostGuardOptions {
  /** `allowed_hosts` as configured; undefined takes the default for the endpoint. */
  allowed: readonly string[] | undefined;
  endpoint: Endpoint;
  /** Names the listener in the counter and the log: `admin`, `api`, or the receivers' `host:port`. */
  listener: string;
  registry?: Registry;
  warn?: RateLimitedWarn;
}

/**
 * Refuses, before any other hook and before the body is read, a request whose Host header is
 * not one the listener answers for. A browser always sends the name from the page's URL, so a
 * rebinding attacker's name never matches; the refusal closes the connection, as the body is
 * left unread.
 */
export function guardHosts(app: FastifyInstance, opts: HostGuardOptions): void {
  const allows = hostMatcher(opts.allowed ?? defaultAllowedHosts(opts.endpoint));
  if (!allows) return;
  const refused = opts.registry ? refusedCounter(opts.registry) : undefined;
  app.addHook('onRequest', async (req, reply) => {
    const host = req.headers.host;
    if (allows(host)) return;
    refused?.inc({ listener: opts.listener });
    opts.warn?.warn(
      { listener: opts.listener, host: host ?? null, remote: req.socket.remoteAddress },
      'HTTP request refused: Host header not in allowed_hosts',
    );
    return reply
      .code(421)
      .header('connection', 'close')
      .type('application/problem+json')
      .send({
        type: 'about:blank',
        title: 'Misdirected Request',
        status: 421,
        detail: `this listener does not answer for host ${JSON.stringify(host ?? '')}; if clients reach it by that name, add it to the listener's allowed_hosts`,
        code: 'VIGIL_HOST_NOT_ALLOWED',
      });
  });
}
