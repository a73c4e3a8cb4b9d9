import { Component } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { listAll, mayAct, type Incident, type Me } from './api.ts';
import { IncidentActions } from './actions.tsx';
import { Choice, SEVERITY_OPTIONS } from './controls.tsx';
import { age, severityClass, SEVERITY_FLOOR } from './format.ts';
import { BASE, follow, navigate } from './router.ts';
import { TicketLink } from './tickets.tsx';
import { followIncidents, type StreamState } from './stream.ts';

/** Beyond this the list asks for narrower filters instead of loading more. */
const MAX_LOADED = 20_000;
const ROW_HEIGHT = 48;
/** Rows rendered above and below the visible ones, so a fast scroll shows no gap. */
const OVERSCAN = 8;

const FILTERS = ['state', 'severity', 'rule', 'q', 'assignee', 'label'] as const;
const STATES: [string, string][] = [
  ['open,acknowledged', 'Open and acknowledged'],
  ['open', 'Open'],
  ['acknowledged', 'Acknowledged'],
  ['resolved', 'Resolved (last day)'],
  ['open,acknowledged,resolved', 'All'],
];

interface Filters {
  state: string;
  severity: string;
  rule: string;
  q: string;
  assignee: string;
  label: string;
}

function filtersOf(search: URLSearchParams): Filters {
  return {
    state: search.get('state') ?? 'open,acknowledged',
    severity: search.get('severity') ?? '',
    rule: search.get('rule') ?? '',
    q: search.get('q') ?? '',
    assignee: search.get('assignee') ?? '',
    label: search.get('label') ?? '',
  };
}

/** The list query the API takes for these filters. */
function queryOf(f: Filters): URLSearchParams {
  const q = new URLSearchParams({ state: f.state });
  if (f.severity) q.set('severity', f.severity);
  if (f.rule) q.set('rule', f.rule);
  if (f.q) q.set('q', f.q);
  if (f.assignee) q.set('assignee', f.assignee);
  if (f.label) q.append('label', f.label);
  return q;
}

/** Whether a pushed incident belongs in the list: the API's filters, applied as it applies them. */
function matches(i: Incident, f: Filters, tenant: string | null): boolean {
  if (tenant !== null && i.tenant !== tenant) return false;
  if (!f.state.split(',').includes(i.status)) return false;
  if (f.severity && i.severity_number < (SEVERITY_FLOOR[f.severity] ?? 0)) return false;
  if (f.rule && !f.rule.split(',').includes(i.rule)) return false;
  if (f.assignee && (i.assignee ?? '') !== f.assignee) return false;
  if (f.label) {
    const eq = f.label.indexOf('=');
    if (eq > 0 && i.labels[f.label.slice(0, eq)] !== f.label.slice(eq + 1)) return false;
  }
  if (f.q) {
    const t = f.q.toLowerCase();
    if (![i.title, i.key, i.id, i.asset, i.service].some((s) => s.toLowerCase().includes(t))) return false;
  }
  return true;
}

const newestFirst = (a: Incident, b: Incident) =>
  a.opened_at < b.opened_at ? 1 : a.opened_at > b.opened_at ? -1 : a.id < b.id ? 1 : -1;

function FilterBar({ filters }: { filters: Filters }) {
  const [q, setQ] = useState(filters.q);
  useEffect(() => setQ(filters.q), [filters.q]);
  const set = (name: keyof Filters, value: string) => {
    const next = new URLSearchParams(location.search);
    if (value && !(name === 'state' && value === 'open,acknowledged')) next.set(name, value);
    else next.delete(name);
    for (const k of [...next.keys()]) if (!(FILTERS as readonly string[]).includes(k)) next.delete(k);
    const s = next.toString();
    navigate(`${BASE}/${s ? `?${s}` : ''}`, true);
  };
  return (
    <form
      class="filters"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        set('q', q.trim());
      }}
    >
      <Choice label="State" value={filters.state} options={STATES} onChange={(v) => set('state', v)} />
      <Choice
        label="Severity at least"
        value={filters.severity}
        options={SEVERITY_OPTIONS}
        onChange={(v) => set('severity', v)}
      />
      <label>
        Rule
        <input value={filters.rule} onChange={(e) => set('rule', e.currentTarget.value.trim())} size={12} />
      </label>
      <label>
        Label
        <input
          value={filters.label}
          placeholder="name=value"
          onChange={(e) => set('label', e.currentTarget.value.trim())}
          size={14}
        />
      </label>
      <label>
        Search
        <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} size={18} />
      </label>
      <button type="submit">Search</button>
    </form>
  );
}

interface RowProps {
  i: Incident;
  index: number;
  me: Me;
  nowMs: number;
}

/** A row renders again only when its incident, place or clock changed: a scroll step builds just the rows it brings in. */
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const p = this.props;
    return next.i !== p.i || next.index !== p.index || next.nowMs !== p.nowMs || next.me !== p.me;
  }

  override render({ i, index, me, nowMs }: RowProps) {
    return rowOf(i, index, me, nowMs);
  }
}

function rowOf(i: Incident, index: number, me: Me, nowMs: number) {
  const sev = severityClass(i.severity_number);
  return (
    <tr aria-rowindex={index + 2} class={`row row-${i.status}`} data-id={i.id}>
      <td>
        <span class={`sev sev-${sev}`}>{i.severity || sev}</span>
      </td>
      <td class="title">
        <a href={`${BASE}/incidents/${encodeURIComponent(i.id)}`} onClick={follow}>
          {i.title}
        </a>
        <span class="rule">{i.rule}</span>
      </td>
      <td class="labels">
        {Object.entries(i.labels).map(([k, v]) => (
          <span key={k} class="chip">
            {k}={v}
          </span>
        ))}
      </td>
      <td>
        <time dateTime={i.opened_at} title={i.opened_at}>
          {age(i.opened_at, nowMs)}
        </time>
      </td>
      <td class="num">{i.event_count}</td>
      <td>
        <span class={`state state-${i.status}`}>{i.status}</span>
        {i.suppressed && <span class="chip muted">silenced</span>}
      </td>
      <td>{i.assignee ?? ''}</td>
      <td class="tickets">
        {i.tickets?.map((t) => (
          <span key={`${t.exporter}/${t.ref}`} class="ticket">
            <TicketLink t={t} />
          </span>
        ))}
      </td>
      {mayAct(me.role) && (
        <td>
          <IncidentActions incident={i} compact />
        </td>
      )}
    </tr>
  );
}

/** Only the rows in sight (and a few around) are in the page; spacers stand for the others. */
function VirtualTable({ rows, me, nowMs, loading }: { rows: Incident[]; me: Me; nowMs: number; loading: boolean }) {
  const scroller = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 800 });
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    let raf = 0;
    const measure = () => {
      raf = 0;
      setView({ top: el.scrollTop, height: el.clientHeight });
    };
    const on = () => {
      if (!raf) raf = requestAnimationFrame(measure);
    };
    measure();
    el.addEventListener('scroll', on, { passive: true });
    window.addEventListener('resize', on);
    return () => {
      el.removeEventListener('scroll', on);
      window.removeEventListener('resize', on);
    };
  }, []);
  const first = Math.max(0, Math.floor(view.top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((view.top + view.height) / ROW_HEIGHT) + OVERSCAN);

  const actions = mayAct(me.role);
  const columns = actions ? 9 : 8;
  return (
    <div class="scroller" ref={scroller} data-testid="scroller">
      <table aria-rowcount={rows.length + 1} aria-label="Incidents">
        <thead>
          <tr aria-rowindex={1}>
            <th scope="col">Severity</th>
            <th scope="col">Incident and rule</th>
            <th scope="col">Group labels</th>
            <th scope="col">Age</th>
            <th scope="col">Events</th>
            <th scope="col">State</th>
            <th scope="col">Assignee</th>
            <th scope="col">Tickets</th>
            {actions && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {first > 0 && (
            <tr class="spacer" aria-hidden="true">
              <td colSpan={columns} style={{ height: `${first * ROW_HEIGHT}px` }} />
            </tr>
          )}
          {rows.slice(first, last).map((i, k) => (
            <Row key={i.id} i={i} index={first + k} me={me} nowMs={nowMs} />
          ))}
          {last < rows.length && (
            <tr class="spacer" aria-hidden="true">
              <td colSpan={columns} style={{ height: `${(rows.length - last) * ROW_HEIGHT}px` }} />
            </tr>
          )}
        </tbody>
      </table>
      {!loading && rows.length === 0 && <p class="empty">Nothing is burning: no incident matches.</p>}
    </div>
  );
}

/** The incidents, live: the list read once per filter and after every (re)connect, then kept up to date by the stream. */
export function IncidentsPage({ me, search }: { me: Me; search: URLSearchParams }) {
  const filters = useMemo(() => filtersOf(search), [search.toString()]);
  const store = useRef(new Map<string, Incident>());
  const [version, setVersion] = useState(0);
  const [live, setLive] = useState<StreamState>('connecting');
  const [loading, setLoading] = useState(true);
  const [truncated, setTruncated] = useState(false);
  const [error, setError] = useState('');
  const [connected, setConnected] = useState(0);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const pending = useRef<Incident[] | null>(null);
  const frame = useRef(0);
  const bump = () => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      setVersion((v) => v + 1);
    });
  };
  const apply = (i: Incident) => {
    if (matches(i, filtersRef.current, me.tenant)) store.current.set(i.id, i);
    else store.current.delete(i.id);
  };

  useEffect(
    () =>
      followIncidents({
        ready: () => setConnected((n) => n + 1),
        incident: (i) => {
          if (pending.current) pending.current.push(i);
          else apply(i);
          bump();
        },
        state: setLive,
      }),
    [],
  );

  useEffect(() => {
    if (connected === 0) return;
    const abort = new AbortController();
    pending.current = [];
    setLoading(true);
    listAll(queryOf(filters), MAX_LOADED, abort.signal)
      .then(({ items, truncated }) => {
        if (abort.signal.aborted) return;
        store.current = new Map(items.map((i) => [i.id, i]));
        for (const i of pending.current ?? []) apply(i);
        setTruncated(truncated);
        setError('');
      })
      .catch((err: Error) => !abort.signal.aborted && setError(err.message))
      .finally(() => {
        if (abort.signal.aborted) return;
        pending.current = null;
        setLoading(false);
        bump();
      });
    return () => abort.abort();
  }, [filters, connected]);

  const rows = useMemo(() => [...store.current.values()].sort(newestFirst), [version]);

  // Ages tick on.
  const [nowMs, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);

  const actions = mayAct(me.role);

  return (
    <main class="incidents">
      <div class="toolbar">
        <h1>Incidents</h1>
        <span class={`live live-${live}`} role="status" data-testid="live">
          {live === 'live' ? 'live' : live === 'connecting' ? 'connecting…' : 'reconnecting…'}
        </span>
        <span class="count" aria-live="polite">
          {loading ? 'loading…' : `${rows.length}${truncated ? '+' : ''} incident${rows.length === 1 ? '' : 's'}`}
        </span>
        {actions && (
          <a class="button" href={`${BASE}/silences?new=1`} onClick={follow}>
            New silence
          </a>
        )}
      </div>
      <FilterBar filters={filters} />
      {truncated && (
        <p class="notice">Only the newest {MAX_LOADED} incidents are listed: narrow the filters to see the others.</p>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <VirtualTable rows={rows} me={me} nowMs={nowMs} loading={loading} />
    </main>
  );
}
