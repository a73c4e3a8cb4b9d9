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
import { instantOf } from '../../../correlation/recurrence.ts';
import { zonedParts } from '../../../model/timeZone.ts';
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

/**
 * A `datetime-local` value (`2027-01-04T09:00`) read in `timezone`, as an RFC 3339 instant; as
 * the windows' own times are, a time clocks skip is read with the offset before, one they repeat
 * as its first. Absent when empty, or when the zone is unknown (the API then refuses the zone).
 */
function instantIn(local: string, timezone: string): string | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(local);
  if (!m) return undefined;
  const wall = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!);
  try {
    return new Date(instantOf(timezone, wall)).toISOString();
  } catch {
    return undefined;
  }
}

/** An instant as the date and time it is in `timezone`: `2027-01-04 09:00`. */
function zonedDateTime(iso: string, timezone: string): string {
  try {
    const p = zonedParts(timezone, Date.parse(iso));
    const two = (v: string | undefined) => (v ?? '').padStart(2, '0');
    return `${p.year}-${two(p.month)}-${two(p.day)} ${two(p.hour)}:${two(p.minute)}`;
  } catch {
    return localTime(iso);
  }
}

function NewWindow({ me, onCreated }: { me: Me; onCreated: () => void }) {
  const [rows, setRows] = useState<MatcherRow[]>([{ name: 'asset', op: '=', value: '' }]);
  const [days, setDays] = useState<string[]>(['sun']);
  const [start, setStart] = useState('02:00');
  const [end, setEnd] = useState('04:00');
  const [timezone, setTimezone] = useState(localZone);
  const [comment, setComment] = useState('');
  const [startsAt, setStartsAt] = useState('');
  const [endsAt, setEndsAt] = useState('');
  const toggle = (d: string, on: boolean) =>
    setDays(DAYS.map(([k]) => k).filter((k) => (k === d ? on : days.includes(k))));
  const { error, submit } = useCreate('/api/v1/maintenance-windows', `${BASE}/maintenance`, onCreated);
  return (
    <section aria-labelledby="new-window" class="card">
      <h2 id="new-window">New maintenance window</h2>
      <form
        onSubmit={submit(() => {
          const zone = timezone.trim();
          const starts_at = instantIn(startsAt, zone);
          const ends_at = instantIn(endsAt, zone);
          return {
            matchers: matchersOf(rows),
            days,
            start,
            end,
            timezone: zone,
            ...(starts_at ? { starts_at } : {}),
            ...(ends_at ? { ends_at } : {}),
            created_by: me.subject,
            comment,
          };
        })}
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
          Starts (date and time in the window's time zone; empty: now)
          <input type="datetime-local" value={startsAt} onInput={(e) => setStartsAt(e.currentTarget.value)} />
        </label>
        <label>
          Ends (date and time in the window's time zone; empty: until expired)
          <input type="datetime-local" value={endsAt} onInput={(e) => setEndsAt(e.currentTarget.value)} />
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
        columns={['State', 'Matchers', 'Schedule', 'Time zone', 'Recurs', 'Next', 'By', 'Comment']}
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
            <td class="range">
              {zonedDateTime(w.starts_at, w.timezone)} –{' '}
              {w.ends_at ? zonedDateTime(w.ends_at, w.timezone) : 'until expired'}
            </td>
            <td class="next">
              {w.next
                ? `${zonedDateTime(w.next.starts_at, w.timezone)} – ${zonedDateTime(w.next.ends_at, w.timezone)}`
                : '—'}
            </td>
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
