import { useEffect, useState } from 'preact/hooks';
import { call, mayAct, type Incident, type IncidentDetail, type Me } from './api.ts';
import { StackedHistogram, type Bucket } from './chart.tsx';
import { IncidentActions } from './actions.tsx';
import { localTime, ruleInWords, severityClass } from './format.ts';
import { TicketLink } from './tickets.tsx';
import { BASE, follow } from './router.ts';
import { followIncidents } from './stream.ts';

/** A silence that would match this incident's rule and group labels, for the silences page to prefill. */
function silenceLink(i: IncidentDetail): string {
  const q = new URLSearchParams({ new: '1' });
  q.append('m', `rule=${i.rule}`);
  for (const [k, v] of Object.entries(i.labels)) q.append('m', `${k}=${v}`);
  return `${BASE}/silences?${q}`;
}

const MINUTE = 60_000;
const MAX_RANGE = 31 * 86_400_000;

/** The events of its asset (or service) around its life, counted per bucket by severity; hidden without an event store. */
function IncidentEvents({ inc }: { inc: Incident }) {
  const [buckets, setBuckets] = useState<Bucket[] | null>(null);
  const to = Date.parse(inc.last_seen) + MINUTE;
  const from = Math.max(Date.parse(inc.first_seen) - MINUTE, to - MAX_RANGE);
  const q = new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  if (inc.asset) q.set('asset', inc.asset);
  else if (inc.service) q.set('service', inc.service);
  const query = q.toString();
  useEffect(() => {
    call<{ buckets: Bucket[] }>('GET', `/api/v1/events/histogram?${query}`)
      .then((h) => setBuckets(h.buckets))
      .catch(() => setBuckets(null));
  }, [query]);
  if (!buckets) return null;
  const what = inc.asset ? `asset ${inc.asset}` : inc.service ? `service ${inc.service}` : 'every source';
  return (
    <section aria-labelledby="events">
      <h2 id="events">Events of {what} around it</h2>
      <StackedHistogram
        buckets={buckets}
        label={`Events of ${what} from a minute before its first to a minute after its last, by severity`}
      />
      <a href={`${BASE}/events?${query}`} onClick={follow}>
        Open these events
      </a>
    </section>
  );
}

type Relation = 'same asset' | 'same service' | 'parent asset' | 'child asset';

/** Each way an incident relates to this one, and the list query that finds those so related. */
function relations(inc: Incident): { relation: Relation; query: URLSearchParams }[] {
  const held = 'open,acknowledged,resolved';
  const out: { relation: Relation; query: URLSearchParams }[] = [];
  if (inc.parent)
    out.push({
      relation: 'parent asset',
      query: new URLSearchParams({ asset: inc.parent, state: 'open,acknowledged' }),
    });
  if (inc.asset) {
    out.push({ relation: 'child asset', query: new URLSearchParams({ parent: inc.asset, state: held }) });
    out.push({ relation: 'same asset', query: new URLSearchParams({ asset: inc.asset, state: held }) });
  } else if (inc.service)
    out.push({ relation: 'same service', query: new URLSearchParams({ service: inc.service, state: held }) });
  for (const r of out) r.query.set('limit', '11');
  return out;
}

/** Why it is related, in words: the parent's and a child's asset named. */
function relationInWords(relation: Relation, i: Incident): string {
  if (relation === 'parent asset') return `parent asset: ${i.asset}`;
  if (relation === 'child asset') return `child asset: ${i.asset}`;
  return relation;
}

/**
 * Other incidents on the same asset (or service), often the same trouble seen by another rule;
 * those open on its asset's parent in the topology (a switch down takes its hosts with it), and
 * those of its asset's children.
 */
function RelatedIncidents({ inc }: { inc: Incident }) {
  const [related, setRelated] = useState<{ relation: Relation; incident: Incident }[] | null>(null);
  const asked = relations(inc);
  const queries = asked.map((r) => `${r.relation}:${r.query}`).join('|');
  useEffect(() => {
    if (asked.length === 0) return;
    let live = true;
    Promise.all(asked.map((r) => call<{ items: Incident[] }>('GET', `/api/v1/incidents?${r.query}`)))
      .then((pages) => {
        const seen = new Set([inc.id]);
        const found = pages.flatMap((p, k) =>
          p.items
            .filter((i) => !seen.has(i.id) && seen.add(i.id))
            .slice(0, 10)
            .map((incident) => ({ relation: asked[k]!.relation, incident })),
        );
        if (live) setRelated(found);
      })
      .catch(() => live && setRelated(null));
    return () => {
      live = false;
    };
  }, [queries, inc.id]);
  if (!related) return null;
  return (
    <section aria-labelledby="related">
      <h2 id="related">Related incidents</h2>
      {related.length === 0 ? (
        <p>
          None on the same {inc.asset ? 'asset' : 'service'}
          {inc.parent ? ', open on its parent asset' : ''}
          {inc.asset ? ' or on its child assets' : ''}.
        </p>
      ) : (
        <ul data-testid="related">
          {related.map(({ relation, incident: i }) => (
            <li key={i.id}>
              <a href={`${BASE}/incidents/${encodeURIComponent(i.id)}`} onClick={follow}>
                {i.title}
              </a>{' '}
              <span class={`state state-${i.status}`}>{i.status}</span> <span class="rule">{i.rule}</span>{' '}
              <span class="reason">{relationInWords(relation, i)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

interface Neighbour {
  service: string;
  /** `calls`: the incident's service calls it; `called by`: it calls the incident's service. */
  relation: 'calls' | 'called by';
  calls: number;
  incidents: Incident[];
}

const HOUR = 3_600_000;

/**
 * Incidents open on the services this incident's service calls or is called by, as the traces
 * stored around its time show them (`/api/v1/services/dependencies`). Nothing is shown without
 * an event store; a service no trace links to says so.
 */
function TopologyRelated({ inc }: { inc: Incident }) {
  const [found, setFound] = useState<Neighbour[] | null>(null);
  useEffect(() => {
    if (!inc.service) return;
    const to = Math.max(Date.parse(inc.last_seen), Date.parse(inc.first_seen)) + HOUR;
    const from = Math.max(Date.parse(inc.first_seen) - HOUR, to - MAX_RANGE);
    const q = new URLSearchParams({
      service: inc.service,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
    });
    let live = true;
    call<{ edges: { caller: string; callee: string; calls: number }[] }>('GET', `/api/v1/services/dependencies?${q}`)
      .then(async ({ edges }) => {
        const near = edges
          .slice(0, 10)
          .map((e) =>
            e.caller === inc.service
              ? { service: e.callee, relation: 'calls' as const, calls: e.calls }
              : { service: e.caller, relation: 'called by' as const, calls: e.calls },
          );
        const lists = await Promise.all(
          near.map((n) =>
            call<{ items: Incident[] }>(
              'GET',
              `/api/v1/incidents?${new URLSearchParams({ state: 'open,acknowledged', service: n.service, limit: '6' })}`,
            ).then((p) => p.items.filter((i) => i.id !== inc.id)),
          ),
        );
        if (live) setFound(near.map((n, k) => ({ ...n, incidents: lists[k]! })));
      })
      .catch(() => live && setFound(null));
    return () => {
      live = false;
    };
  }, [inc.id, inc.service, inc.first_seen, inc.last_seen]);
  if (!found) return null;
  const withIncidents = found.filter((n) => n.incidents.length > 0);
  return (
    <section aria-labelledby="related-topology">
      <h2 id="related-topology">Related by topology</h2>
      {found.length === 0 ? (
        <p>No stored trace shows {inc.service} calling another service or being called by one.</p>
      ) : withIncidents.length === 0 ? (
        <p>
          None open on the services {inc.service} calls or is called by ({found.map((n) => n.service).join(', ')}).
        </p>
      ) : (
        <ul data-testid="related-topology">
          {withIncidents.flatMap((n) =>
            n.incidents.slice(0, 5).map((i) => (
              <li key={i.id}>
                <a href={`${BASE}/incidents/${encodeURIComponent(i.id)}`} onClick={follow}>
                  {i.title}
                </a>{' '}
                <span class={`state state-${i.status}`}>{i.status}</span>{' '}
                <span class="reason">
                  on {n.service}, which {n.relation === 'calls' ? `${inc.service} calls` : `calls ${inc.service}`} (
                  {n.calls} {n.calls === 1 ? 'call' : 'calls'} in traces)
                </span>
              </li>
            )),
          )}
        </ul>
      )}
    </section>
  );
}

export function IncidentDetailPage({ id, me }: { id: string; me: Me }) {
  const [inc, setInc] = useState<IncidentDetail | null>(null);
  const [error, setError] = useState('');
  const [seen, setSeen] = useState(0);
  useEffect(() => {
    call<IncidentDetail>('GET', `/api/v1/incidents/${encodeURIComponent(id)}`)
      .then((d) => {
        setInc(d);
        setError('');
      })
      .catch((err: Error) => setError(err.message));
  }, [id, seen]);
  // Read again whenever the stream says it changed.
  useEffect(
    () =>
      followIncidents({
        ready: () => setSeen((n) => n + 1),
        incident: (i) => i.id === id && setSeen((n) => n + 1),
        state: () => undefined,
      }),
    [id],
  );
  if (error && !inc)
    return (
      <main>
        <p role="alert" class="error">
          {error}
        </p>
        <a href={`${BASE}/`} onClick={follow}>
          Back to the incidents
        </a>
      </main>
    );
  if (!inc) return <main aria-busy="true">Loading…</main>;
  const sev = severityClass(inc.severity_number);
  const opened = inc.audit.find((a) => a.kind === 'opened');
  return (
    <main class="detail">
      <p>
        <a href={`${BASE}/`} onClick={follow}>
          ← Incidents
        </a>
      </p>
      <h1>
        <span class={`sev sev-${sev}`}>{inc.severity || sev}</span> {inc.title}
      </h1>
      {mayAct(me.role) && (
        <div class="toolbar">
          <IncidentActions incident={inc} onDone={setInc} />
          <a class="button" href={silenceLink(inc)} onClick={follow}>
            Silence like this
          </a>
        </div>
      )}
      <section aria-labelledby="why">
        <h2 id="why">Why it opened</h2>
        <p data-testid="rule-words">{ruleInWords(inc, inc.rule_definition)}</p>
        {opened && <p class="reason">{opened.reason}</p>}
      </section>
      <section aria-labelledby="facts">
        <h2 id="facts">Facts</h2>
        <dl class="facts">
          <dt>State</dt>
          <dd>
            <span class={`state state-${inc.status}`}>{inc.status}</span>
            {inc.suppressed && <> (silenced by {inc.suppressed_by})</>}
          </dd>
          <dt>Group labels</dt>
          <dd>
            {Object.entries(inc.labels).map(([k, v]) => (
              <span key={k} class="chip">
                {k}={v}
              </span>
            ))}
          </dd>
          <dt>Service / asset</dt>
          <dd>
            {inc.service || '—'} / {inc.asset || '—'}
          </dd>
          {inc.parent && (
            <>
              <dt>Parent asset</dt>
              <dd>{inc.parent}</dd>
            </>
          )}
          <dt>Opened</dt>
          <dd>{localTime(inc.opened_at)}</dd>
          <dt>Events</dt>
          <dd>
            {inc.event_count} (first {localTime(inc.first_seen)}, last {localTime(inc.last_seen)})
          </dd>
          <dt>Assignee</dt>
          <dd>{inc.assignee ?? 'nobody'}</dd>
          {inc.acknowledged_by && (
            <>
              <dt>Acknowledged</dt>
              <dd>
                by {inc.acknowledged_by} at {localTime(inc.acknowledged_at!)}
              </dd>
            </>
          )}
          <dt>Tenant</dt>
          <dd>{inc.tenant || 'default'}</dd>
          <dt>Id</dt>
          <dd>
            <code>{inc.id}</code>
          </dd>
        </dl>
      </section>
      <section aria-labelledby="tickets">
        <h2 id="tickets">Tickets</h2>
        {inc.tickets.length === 0 ? (
          <p>No ticket.</p>
        ) : (
          <ul>
            {inc.tickets.map((t) => (
              <li key={`${t.exporter}/${t.ref}`}>
                <TicketLink t={t} />
              </li>
            ))}
          </ul>
        )}
      </section>
      <section aria-labelledby="timeline">
        <h2 id="timeline">Timeline</h2>
        <ol class="timeline" data-testid="timeline">
          {inc.audit.map((a, k) => (
            <li key={k} class={`tl tl-${a.kind}`}>
              <time dateTime={a.at}>{localTime(a.at)}</time> <strong>{a.kind}</strong>
              {a.actor && !a.reason.includes(a.actor) && <> by {a.actor}</>}: {a.reason}
            </li>
          ))}
        </ol>
      </section>
      <IncidentEvents inc={inc} />
      <RelatedIncidents inc={inc} />
      <TopologyRelated inc={inc} />
      <section aria-labelledby="sample">
        <h2 id="sample">Sample of its events</h2>
        {inc.sample_event_ids.length === 0 ? (
          <p>None kept.</p>
        ) : (
          <ul class="ids">
            {inc.sample_event_ids.map((e) => (
              <li key={e}>
                <code>{e}</code>
              </li>
            ))}
          </ul>
        )}
      </section>
    </main>
  );
}
