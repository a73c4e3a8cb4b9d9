import { useEffect, useMemo, useState } from 'preact/hooks';
import { listAll, mayAct, type Incident, type Me, type Silence } from './api.ts';
import { Choice } from './controls.tsx';
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
import { MatcherChips, MatcherFields, matchersOf, toMatcher, type MatcherRow as Row, type Op } from './matchers.tsx';
import { BASE, follow } from './router.ts';

const DURATIONS: [string, number][] = [
  ['1 hour', 3_600_000],
  ['2 hours', 7_200_000],
  ['4 hours', 14_400_000],
  ['1 day', 86_400_000],
  ['1 week', 604_800_000],
];

/** What a silence matches on, as the correlation core builds it: service, asset and tenant, then the group labels, rule and severity. */
function silenceLabels(i: Incident): Record<string, string> {
  return {
    service: i.service,
    asset: i.asset,
    tenant: i.tenant,
    ...i.labels,
    rule: i.rule,
    severity: i.severity.toLowerCase(),
  };
}

/** A test per matcher, or the first invalid regular expression's message. */
function compile(rows: Row[]): ((l: Record<string, string>) => boolean)[] | string {
  const tests: ((l: Record<string, string>) => boolean)[] = [];
  for (const r of rows) {
    const m = toMatcher(r);
    if (!m.name) continue;
    let test: (v: string) => boolean;
    if (m.isRegex) {
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${m.value})$`);
      } catch (err) {
        return `${m.name}: ${(err as Error).message}`;
      }
      test = (v) => re.test(v);
    } else test = (v) => v === m.value;
    tests.push((l) => test(l[m.name] ?? '') === m.isEqual);
  }
  return tests;
}

/** `name=value` pairs from the query (`m=rule=disk_full`), as a new silence's first matchers. */
function rowsFrom(search: URLSearchParams): Row[] {
  const rows = search.getAll('m').flatMap((m) => {
    const eq = m.indexOf('=');
    return eq > 0 ? [{ name: m.slice(0, eq), op: '=' as Op, value: m.slice(eq + 1) }] : [];
  });
  return rows.length ? rows : [{ name: 'rule', op: '=', value: '' }];
}

function NewSilence({ me, onCreated }: { me: Me; onCreated: () => void }) {
  const search = new URLSearchParams(location.search);
  const [rows, setRows] = useState<Row[]>(() => rowsFrom(search));
  const [duration, setDuration] = useState(DURATIONS[1]![1]);
  const [comment, setComment] = useState('');
  const { error, setError, submit } = useCreate('/api/v2/silences', `${BASE}/silences`, onCreated);
  const [open, setOpen] = useState<Incident[] | null>(null);
  useEffect(() => {
    listAll(new URLSearchParams({ state: 'open,acknowledged' }), 20_000)
      .then((r) => setOpen(r.items))
      .catch((err: Error) => setError(err.message));
  }, []);
  const tests = useMemo(() => compile(rows), [rows]);
  const preview = useMemo(
    () =>
      open && typeof tests !== 'string' && tests.length > 0
        ? open.filter((i) => {
            const l = silenceLabels(i);
            return tests.every((t) => t(l));
          })
        : [],
    [open, tests],
  );
  return (
    <section aria-labelledby="new-silence" class="card">
      <h2 id="new-silence">New silence</h2>
      <form
        onSubmit={submit(() => {
          const now = Date.now();
          return {
            matchers: matchersOf(rows),
            startsAt: new Date(now).toISOString(),
            endsAt: new Date(now + duration).toISOString(),
            createdBy: me.subject,
            comment,
          };
        })}
      >
        <MatcherFields rows={rows} onChange={setRows} />
        <Choice
          label="For"
          value={String(duration)}
          options={DURATIONS.map(([text, ms]) => [String(ms), text])}
          onChange={(ms) => setDuration(Number(ms))}
        />
        <label>
          Comment
          <input required value={comment} onInput={(e) => setComment(e.currentTarget.value)} size={40} />
        </label>
        <button type="submit">Create silence</button>
        <ErrorAlert error={error} />
      </form>
      <h3>Open incidents it would silence</h3>
      {typeof tests === 'string' ? (
        <p class="error">{tests}</p>
      ) : open === null ? (
        <p>Loading…</p>
      ) : (
        <>
          <p data-testid="preview-count" aria-live="polite">
            {preview.length} of {open.length} open incidents
          </p>
          <ul class="preview">
            {preview.slice(0, 50).map((i) => (
              <li key={i.id}>
                <a href={`${BASE}/incidents/${encodeURIComponent(i.id)}`} onClick={follow}>
                  {i.title}
                </a>{' '}
                <span class="rule">{i.rule}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

export function SilencesPage({ me, search }: { me: Me; search: URLSearchParams }) {
  const {
    items: silences,
    error,
    reload,
    expire,
  } = useExpirable<Silence>('/api/v2/silences', (id) => `/api/v2/silence/${id}`);
  const creating = mayAct(me.role) && search.get('new') === '1';
  const sorted = [...(silences ?? [])].sort(
    (a, b) => STATE_ORDER[a.status.state] - STATE_ORDER[b.status.state] || (a.endsAt < b.endsAt ? -1 : 1),
  );
  return (
    <main class="silences">
      <ExpirableHeader
        title="Silences"
        newLabel="New silence"
        newHref={`${BASE}/silences?new=1`}
        acts={mayAct(me.role)}
        form={creating ? <NewSilence me={me} onCreated={reload} /> : null}
        error={error}
      />
      <ExpirableTable
        items={silences}
        empty="No silence."
        label="Silences"
        columns={['State', 'Matchers', 'Ends', 'By', 'Comment']}
        acts={mayAct(me.role)}
      >
        {sorted.map((s) => (
          <tr key={s.id} data-id={s.id}>
            <td>
              <span class={`state silence-${s.status.state}`}>{s.status.state}</span>
            </td>
            <td>
              <MatcherChips matchers={s.matchers} />
            </td>
            <td>{localTime(s.endsAt)}</td>
            <td>{s.createdBy}</td>
            <td>{s.comment}</td>
            {mayAct(me.role) && (
              <ExpireCell
                label={`Expire silence ${s.comment}`}
                expired={s.status.state === 'expired'}
                onExpire={() => void expire(s.id)}
              />
            )}
          </tr>
        ))}
      </ExpirableTable>
    </main>
  );
}
