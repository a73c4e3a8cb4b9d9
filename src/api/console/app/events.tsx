import { Fragment } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, call } from './api.ts';
import { StackedHistogram, type Bucket } from './chart.tsx';
import { localTime, severityClass } from './format.ts';
import { Choice, rangeOptions, SEVERITY_OPTIONS } from './controls.tsx';
import { rangeOf } from './range.ts';
import { BASE, navigate } from './router.ts';

interface StoredEvent {
  id: string;
  time: string;
  tenant: string;
  service: string;
  asset: string;
  severity: string;
  severity_number: number;
  severity_text: string;
  title: string;
  body: string;
  type: string;
  source: string;
  attributes: Record<string, string>;
  resource: Record<string, string>;
}

const FIELDS = ['service', 'asset', 'severity', 'q'] as const;

/** The address with these changes; an empty value removes the parameter. */
function withParams(search: URLSearchParams, changes: Record<string, string>): string {
  const next = new URLSearchParams(search);
  for (const [k, v] of Object.entries(changes)) {
    if (v) next.set(k, v);
    else next.delete(k);
  }
  return `${BASE}/events?${next}`;
}

function EventRow({ e }: { e: StoredEvent }) {
  const [open, setOpen] = useState(false);
  const attrs = { ...e.resource, ...e.attributes };
  return (
    <>
      <tr class="event-row">
        <td>
          <button
            type="button"
            class="link"
            aria-expanded={open}
            aria-label={`${open ? 'Hide' : 'Show'} the attributes of ${e.title || e.id}`}
            onClick={() => setOpen(!open)}
          >
            {open ? '▾' : '▸'}
          </button>
        </td>
        <td>
          <time dateTime={e.time}>{localTime(e.time)}</time>
        </td>
        <td>
          <span class={`sev sev-${severityClass(e.severity_number)}`}>{e.severity_text || e.severity}</span>
        </td>
        <td>{e.title || e.body}</td>
        <td>{e.service}</td>
        <td>{e.asset}</td>
        <td>{e.source}</td>
      </tr>
      {open && (
        <tr class="event-detail">
          <td />
          <td colSpan={6}>
            <dl class="facts">
              {[
                ['id', e.id],
                ['time', e.time],
                ['severity', `${e.severity_text} (${e.severity_number})`],
                ['service', e.service],
                ['asset', e.asset],
                ['type', e.type],
                ['source', e.source],
                ['tenant', e.tenant],
                ['body', e.body],
                ...Object.entries(attrs),
              ].map(([k, v]) => (
                <Fragment key={k}>
                  <dt>{k}</dt>
                  <dd>{v}</dd>
                </Fragment>
              ))}
            </dl>
          </td>
        </tr>
      )}
    </>
  );
}

/** Stored events: a range, filters, counts over time stacked by severity (click a bar to zoom), and the events themselves. */
export function EventsPage({ search }: { search: URLSearchParams }) {
  const key = search.toString();
  const range = useMemo(() => rangeOf(search), [key]);
  const filters = Object.fromEntries(FIELDS.map((f) => [f, search.get(f) ?? ''])) as Record<string, string>;
  const query = useMemo(() => {
    const q = new URLSearchParams({ from: range.from, to: range.to });
    for (const f of FIELDS) if (filters[f]) q.set(f, filters[f]!);
    return q;
  }, [key, range]);
  const [histogram, setHistogram] = useState<{ step_seconds: number; buckets: Bucket[] } | null>(null);
  const [events, setEvents] = useState<StoredEvent[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState('');
  // Each field's handler updates the form as it stands when the update runs, not as its closure
  // saw it: a change made before the page rendered the one before (a fast select after typing)
  // would otherwise put the earlier field back as it was.
  const [form, setForm] = useState(filters);
  useEffect(() => setForm(filters), [key]);

  useEffect(() => {
    setError('');
    setHistogram(null);
    setEvents([]);
    const fail = (err: Error) =>
      setError(
        err instanceof ApiError && err.code === 'VIGIL_EVENTS_UNAVAILABLE'
          ? 'No event store is configured: set api.event_store to a clickhouse exporter to search events here.'
          : err.message,
      );
    call<{ step_seconds: number; buckets: Bucket[] }>('GET', `/api/v1/events/histogram?${query}`)
      .then(setHistogram)
      .catch(fail);
    call<{ events: StoredEvent[]; next_cursor: string | null }>('GET', `/api/v1/events?${query}&limit=100`)
      .then((p) => {
        setEvents(p.events);
        setCursor(p.next_cursor);
      })
      .catch(fail);
  }, [query]);

  const more = async () => {
    if (!cursor) return;
    const p = await call<{ events: StoredEvent[]; next_cursor: string | null }>(
      'GET',
      `/api/v1/events?${query}&limit=100&cursor=${encodeURIComponent(cursor)}`,
    );
    setEvents([...events, ...p.events]);
    setCursor(p.next_cursor);
  };
  const zoom = (i: number) => {
    const b = histogram?.buckets[i];
    if (!b || !histogram) return;
    const start = Date.parse(b.start);
    navigate(
      withParams(search, {
        last: '',
        from: new Date(start).toISOString(),
        to: new Date(start + histogram.step_seconds * 1000).toISOString(),
      }),
    );
  };

  return (
    <main class="events">
      <div class="toolbar">
        <h1>Events</h1>
        <span class="count">
          {localTime(range.from)} – {localTime(range.to)}
        </span>
      </div>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(withParams(search, form));
        }}
      >
        <Choice
          label="Range"
          value={range.last ?? ''}
          options={rangeOptions(range.last === null)}
          onChange={(last) => navigate(withParams(search, { last, from: '', to: '' }))}
        />
        <label>
          Service
          <input
            value={form.service}
            onInput={(e) => {
              const service = e.currentTarget.value;
              setForm((f) => ({ ...f, service }));
            }}
          />
        </label>
        <label>
          Asset
          <input
            value={form.asset}
            onInput={(e) => {
              const asset = e.currentTarget.value;
              setForm((f) => ({ ...f, asset }));
            }}
          />
        </label>
        <Choice
          label="Severity at least"
          value={form.severity ?? ''}
          options={SEVERITY_OPTIONS}
          onChange={(severity) => setForm((f) => ({ ...f, severity }))}
        />
        <label>
          Text
          <input
            type="search"
            value={form.q}
            onInput={(e) => {
              const q = e.currentTarget.value;
              setForm((f) => ({ ...f, q }));
            }}
          />
        </label>
        <button type="submit">Search</button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {histogram && (
        <StackedHistogram
          buckets={histogram.buckets}
          label={`Events per ${histogram.step_seconds} s by severity; click a bar to zoom into it`}
          onPick={zoom}
        />
      )}
      {!error && (
        <table aria-label="Events">
          <thead>
            <tr>
              <th scope="col">
                <span class="visually-hidden">Attributes</span>
              </th>
              <th scope="col">Time</th>
              <th scope="col">Severity</th>
              <th scope="col">Title</th>
              <th scope="col">Service</th>
              <th scope="col">Asset</th>
              <th scope="col">Source</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <EventRow key={e.id} e={e} />
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" onClick={() => void more()}>
          More events
        </button>
      )}
    </main>
  );
}
