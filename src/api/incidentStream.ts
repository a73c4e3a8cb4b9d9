import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { IncidentDesk } from '../correlation/incidentActions.ts';
import type { Incident, IncidentChange } from '../model/incident.ts';
import { visibleTo } from './auth.ts';
import type { TicketLink } from '../pipeline/component.ts';
import { incidentListItem } from './incidentView.ts';
import type { RouteDoc } from './openapi.ts';

export interface IncidentStreamOptions {
  desk: () => IncidentDesk | undefined;
  /** The tickets exporters made for an incident (none by default). */
  ticketsOf?: (incident: Incident) => Promise<TicketLink[]>;
  /** Between comment lines that keep proxies and the browser from closing a quiet stream. */
  heartbeatMs?: number;
}

/** A reader this far behind is dropped: it reconnects and reads the list afresh, instead of Vigil buffering without end. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** How long a client waits before reconnecting after the stream ends (the SSE `retry:` field). */
const RETRY_MS = 2000;

/**
 * `GET /api/v1/incidents/stream`: the incidents' changes as server-sent events, pushed as the
 * correlation runtime delivers them (the rules' changes and people's actions), for the caller's
 * tenant only. Each event is `event: incident` with the incident's summary (as the list gives it)
 * as `data`; `event: ready` comes first, once the subscription holds, so a client that reads the
 * list after it misses nothing. Authenticated like every `/api/` route, so browsers read it
 * with fetch (an EventSource cannot send an Authorization header).
 *
 * Left out of the OpenAPI document: it never ends, which OpenAPI cannot say and fuzzers would
 * wait on for ever.
 */
export function registerIncidentStream(app: FastifyInstance, opts: IncidentStreamOptions): void {
  const open = new Set<ServerResponse>();
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  // Streams are never idle, so closing the listener would wait on them: they end first.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });

  app.get(
    '/api/v1/incidents/stream',
    { config: { role: 'viewer', hidden: true } satisfies RouteDoc },
    async (req, reply) => {
      const principal = req.principal;
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
      });
      open.add(res);
      const send = (text: string) => {
        // A write after the end would be an error event on the response, nowhere handled.
        if (res.writableEnded || res.destroyed) return;
        if (res.writableLength > MAX_BUFFERED_BYTES) res.end();
        else res.write(text);
      };
      const desk = opts.desk();
      const ticketsOf = opts.ticketsOf ?? (() => Promise.resolve([]));
      // Tickets are read asynchronously; batches still go out in the order they came.
      let sent = Promise.resolve();
      const onChanges = (changes: readonly IncidentChange[]) => {
        // The last change of each incident in the batch, as it now stands.
        const latest = new Map<string, Incident>();
        for (const c of changes) if (visibleTo(principal, c.incident.tenant)) latest.set(c.incident.id, c.incident);
        if (latest.size === 0) return;
        const items = [...latest.values()].map((inc) => {
          const now = desk?.current(inc.key);
          return now?.id === inc.id ? now : inc;
        });
        // A ledger that cannot answer leaves the tickets out rather than the change.
        const tickets = Promise.all(items.map((i) => ticketsOf(i).catch(() => [])));
        sent = sent.then(async () => {
          const found = await tickets;
          send(
            items
              .map(
                (i, k) =>
                  `event: incident\ndata: ${JSON.stringify(incidentListItem(i, desk?.parentOf?.(i.key) ?? '', found[k]!))}\n\n`,
              )
              .join(''),
          );
        });
      };
      const unwatch = desk?.watch?.(onChanges);
      const heartbeat = setInterval(() => send(': heartbeat\n\n'), heartbeatMs);
      heartbeat.unref();
      res.on('close', () => {
        clearInterval(heartbeat);
        unwatch?.();
        open.delete(res);
      });
      send(`retry: ${RETRY_MS}\nevent: ready\ndata: {}\n\n`);
    },
  );
}
