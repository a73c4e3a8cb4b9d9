import { useState } from 'preact/hooks';
import { mayAct, type MaintenanceWindow, type Me } from './api.ts';
import {
  ErrorAlert,
  ExpirableHeader,
  ExpirableTable,
  ExpireCell,
  STATE_ORDER,
  useCreate,
  useExpirable,
} from './expirable.tsx';
import { localTime } from './format.ts';
import { MatcherChips, MatcherFields, matchersOf, type MatcherRow } from './matchers.tsx';
import { BASE } from './router.ts';

const DAYS: [string, string][] = [
  ['mon', 'Mon'],
  ['tue', 'Tue'],
  ['wed', 'Wed'],
  ['thu', 'Thu'],
  ['fri', 'Fri'],
  ['sat', 'Sat'],
  ['sun', 'Sun'],
];

/** The browser's own zone, the likeliest one an operator means. */
const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function NewWindow({ me, onCreated }: { me: Me; onCreated: () => void }) {
  const [rows, setRows] = useState<MatcherRow[]>([{ name: 'asset', op: '=', value: '' }]);
  const [days, setDays] = useState<string[]>(['sun']);
  const [start, setStart] = useState('02:00');
  const [end, setEnd] = useState('04:00');
  const [timezone, setTimezone] = useState(localZone);
  const [comment, setComment] = useState('');
  const toggle = (d: string, on: boolean) =>
    setDays(DAYS.map(([k]) => k).filter((k) => (k === d ? on : days.includes(k))));
  const { error, submit } = useCreate('/api/v1/maintenance-windows', `${BASE}/maintenance`, onCreated);
  return (
    <section aria-labelledby="new-window" class="card">
      <h2 id="new-window">New maintenance window</h2>
      <form
        onSubmit={submit(() => ({
          matchers: matchersOf(rows),
          days,
          start,
          end,
          timezone: timezone.trim(),
          created_by: me.subject,
          comment,
        }))}
      >
        <MatcherFields rows={rows} onChange={setRows} />
        <fieldset>
          <legend>On (local days it starts)</legend>
          {DAYS.map(([k, text]) => (
            <label key={k} class="day">
              <input type="checkbox" checked={days.includes(k)} onChange={(e) => toggle(k, e.currentTarget.checked)} />
              {text}
            </label>
          ))}
        </fieldset>
        <label>
          From
          <input type="time" required value={start} onInput={(e) => setStart(e.currentTarget.value)} />
        </label>
        <label>
          To (not after From: the next day)
          <input type="time" required value={end} onInput={(e) => setEnd(e.currentTarget.value)} />
        </label>
        <label>
          Time zone
          <input required value={timezone} onInput={(e) => setTimezone(e.currentTarget.value)} />
        </label>
        <label>
          Comment
          <input required value={comment} onInput={(e) => setComment(e.currentTarget.value)} size={40} />
        </label>
        <button type="submit" disabled={days.length === 0}>
          Create window
        </button>
        <ErrorAlert error={error} />
      </form>
    </section>
  );
}

const dayList = (days: string[]) =>
  DAYS.filter(([k]) => days.includes(k))
    .map(([, text]) => text)
    .join(', ');

export function MaintenancePage({ me, search }: { me: Me; search: URLSearchParams }) {
  const {
    items: windows,
    error,
    reload,
    expire,
  } = useExpirable<MaintenanceWindow>('/api/v1/maintenance-windows', (id) => `/api/v1/maintenance-windows/${id}`);
  const acts = mayAct(me.role);
  const creating = acts && search.get('new') === '1';
  // The API lists by start; the ones that still recur come first.
  const sorted = [...(windows ?? [])].sort((a, b) => STATE_ORDER[a.status] - STATE_ORDER[b.status]);
  return (
    <main class="maintenance">
      <ExpirableHeader
        title="Maintenance windows"
        newLabel="New maintenance window"
        newHref={`${BASE}/maintenance?new=1`}
        acts={acts}
        form={creating ? <NewWindow me={me} onCreated={reload} /> : null}
        error={error}
      />
      <ExpirableTable
        items={windows}
        empty="No maintenance window."
        label="Maintenance windows"
        columns={['State', 'Matchers', 'Schedule', 'Time zone', 'Next', 'By', 'Comment']}
        acts={acts}
      >
        {sorted.map((w) => (
          <tr key={w.id} data-id={w.id}>
            <td>
              <span class={`state silence-${w.status}`}>{w.status}</span>
              {w.in_window && <span class="chip">on now</span>}
            </td>
            <td>
              <MatcherChips matchers={w.matchers} />
            </td>
            <td class="schedule">
              {dayList(w.days)} {w.start}–{w.end}
            </td>
            <td>{w.timezone}</td>
            <td>{w.next ? `${localTime(w.next.starts_at)} – ${localTime(w.next.ends_at)}` : '—'}</td>
            <td>{w.created_by}</td>
            <td>{w.comment}</td>
            {acts && (
              <ExpireCell
                label={`Expire maintenance window ${w.comment}`}
                expired={w.status === 'expired'}
                onExpire={() => void expire(w.id)}
              />
            )}
          </tr>
        ))}
      </ExpirableTable>
    </main>
  );
}
