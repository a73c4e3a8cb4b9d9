import { useEffect, useMemo, useState } from 'preact/hooks';
import { call } from './api.ts';
import { StackedHistogram, STACK, type Bucket } from './chart.tsx';
import { Choice, rangeOptions } from './controls.tsx';
import { rangeOf } from './range.ts';
import { BASE, follow, navigate } from './router.ts';

interface Overview {
  event_store: boolean;
  open_incidents: {
    total: number;
    acknowledged: number;
    suppressed: number;
    by_severity: Record<string, number>;
    by_service: { service: string; count: number }[];
  };
  events_per_minute: { source: string; events: number; per_minute: number }[];
  response_times: {
    rule: string;
    opened: number;
    acknowledged: number;
    resolved: number;
    mean_time_to_acknowledge_seconds: number | null;
    mean_time_to_resolve_seconds: number | null;
  }[];
  noisy_rules: { rule: string; incidents: number }[];
  noisy_assets: { asset: string; events: number }[];
}

/** `GET /api/v1/stats/pipeline`: the daemon's own metrics per component (refused to a caller bound to a tenant). */
interface PipelineHealth {
  receivers: { id: string; accepted: number; refused: number; rejected: number }[];
  pipelines: { id: string; queued: number; capacity: number }[];
  exporters: { id: string; sent: number; failed: number; backlog: number | null; oldest_age_seconds: number | null }[];
}

const fill = (queued: number, capacity: number) =>
  capacity > 0 ? `${queued} of ${capacity} (${Math.round((100 * queued) / capacity)} %)` : String(queued);

const duration = (s: number | null) =>
  s === null
    ? '—'
    : s < 60
      ? `${Math.round(s)} s`
      : s < 3600
        ? `${Math.round(s / 60)} min`
        : `${(s / 3600).toFixed(1)} h`;

function Table<T>({
  caption,
  head,
  rows,
  cells,
}: {
  caption: string;
  head: string[];
  rows: T[];
  cells: (r: T) => (string | number)[];
}) {
  return (
    <table class="small">
      <caption>{caption}</caption>
      <thead>
        <tr>
          {head.map((h) => (
            <th key={h} scope="col">
              {h}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr>
            <td colSpan={head.length}>none</td>
          </tr>
        ) : (
          rows.map((r, k) => (
            <tr key={k}>
              {cells(r).map((c, j) => (
                <td key={j}>{c}</td>
              ))}
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

/** What is burning and how the range went: the API's overview figures, and events over time. */
export function OverviewPage({ search }: { search: URLSearchParams }) {
  const key = search.toString();
  const range = useMemo(() => rangeOf(search), [key]);
  const [data, setData] = useState<Overview | null>(null);
  const [histogram, setHistogram] = useState<Bucket[] | null>(null);
  const [error, setError] = useState('');
  const [health, setHealth] = useState<PipelineHealth | null>(null);
  useEffect(() => {
    // Daemon-wide figures: a caller bound to a tenant is refused them, and sees the rest.
    call<PipelineHealth>('GET', '/api/v1/stats/pipeline')
      .then(setHealth)
      .catch(() => setHealth(null));
  }, [range]);
  useEffect(() => {
    const q = new URLSearchParams({ from: range.from, to: range.to });
    call<Overview>('GET', `/api/v1/stats/overview?${q}`)
      .then((o) => {
        setData(o);
        if (o.event_store)
          call<{ buckets: Bucket[] }>('GET', `/api/v1/events/histogram?${q}`)
            .then((h) => setHistogram(h.buckets))
            .catch(() => setHistogram(null));
      })
      .catch((err: Error) => setError(err.message));
  }, [range]);
  const open = data?.open_incidents;
  return (
    <main class="overview">
      <div class="toolbar">
        <h1>Overview</h1>
        <Choice
          label="Range"
          value={range.last ?? '1h'}
          options={rangeOptions(false)}
          onChange={(last) => navigate(`${BASE}/overview?last=${last}`)}
        />
      </div>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {open && (
        <section aria-labelledby="open-now" class="cards">
          <h2 id="open-now">Open now</h2>
          <a class="card stat" href={`${BASE}/`} onClick={follow} data-testid="open-total">
            <strong>{open.total}</strong> open incidents
          </a>
          <div class="card stat">
            <strong>{open.acknowledged}</strong> acknowledged
          </div>
          <div class="card stat">
            <strong>{open.suppressed}</strong> silenced
          </div>
          {STACK.filter(([s]) => (open.by_severity[s] ?? 0) > 0)
            .reverse()
            .map(([s]) => (
              <a
                key={s}
                class={`card stat sev-card`}
                href={`${BASE}/?severity=${s === 'unspecified' ? '' : s}`}
                onClick={follow}
              >
                <strong>{open.by_severity[s]}</strong>{' '}
                <span class={`sev sev-${s === 'unspecified' ? 'debug' : s}`}>{s}</span>
              </a>
            ))}
        </section>
      )}
      {data && !data.event_store && (
        <p class="notice">
          No event store is configured (api.event_store): the figures read from stored events are empty.
        </p>
      )}
      {histogram && <StackedHistogram buckets={histogram} label="Events over the range by severity" />}
      {data && (
        <div class="grid">
          <Table
            caption="Open incidents by service"
            head={['Service', 'Open']}
            rows={data.open_incidents.by_service}
            cells={(r) => [r.service || '—', r.count]}
          />
          <Table
            caption="Events per minute by source"
            head={['Source', 'Events', 'Per minute']}
            rows={data.events_per_minute}
            cells={(r) => [r.source, r.events, r.per_minute.toFixed(2)]}
          />
          <Table
            caption="Time to acknowledge and resolve, per rule"
            head={['Rule', 'Opened', 'Mean to acknowledge', 'Mean to resolve']}
            rows={data.response_times}
            cells={(r) => [
              r.rule,
              r.opened,
              duration(r.mean_time_to_acknowledge_seconds),
              duration(r.mean_time_to_resolve_seconds),
            ]}
          />
          <Table
            caption="Noisiest rules"
            head={['Rule', 'Incidents']}
            rows={data.noisy_rules}
            cells={(r) => [r.rule, r.incidents]}
          />
          <Table
            caption="Noisiest assets"
            head={['Asset', 'Events']}
            rows={data.noisy_assets}
            cells={(r) => [r.asset, r.events]}
          />
        </div>
      )}
      {health && (
        <section aria-labelledby="pipeline-health" data-testid="pipeline-health">
          <h2 id="pipeline-health">Pipeline health (since start)</h2>
          <div class="grid">
            <Table
              caption="Receivers"
              head={['Receiver', 'Accepted', 'Refused', 'Unreadable']}
              rows={health.receivers}
              cells={(r) => [r.id, r.accepted, r.refused, r.rejected]}
            />
            <Table
              caption="Pipeline queues"
              head={['Pipeline', 'Queued']}
              rows={health.pipelines}
              cells={(r) => [r.id, fill(r.queued, r.capacity)]}
            />
            <Table
              caption="Exporters"
              head={['Exporter', 'Sent', 'Failed', 'Waiting', 'Oldest waiting']}
              rows={health.exporters}
              cells={(r) => [
                r.id,
                r.sent,
                r.failed,
                r.backlog ?? '—',
                r.backlog ? duration(r.oldest_age_seconds) : '—',
              ]}
            />
          </div>
        </section>
      )}
    </main>
  );
}
