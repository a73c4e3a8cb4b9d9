import { useEffect, useMemo, useState } from 'preact/hooks';
import { call, listAll, mayAct, type Incident, type Matcher, type Me, type Silence } from './api.ts';
import { Choice } from './controls.tsx';
import { localTime } from './format.ts';
import { BASE, follow, navigate } from './router.ts';

type Op = '=' | '!=' | '=~' | '!~';
interface Row {
  name: string;
  op: Op;
  value: string;
}

const OPS: Op[] = ['=', '!=', '=~', '!~'];
const DURATIONS: [string, number][] = [
  ['1 hour', 3_600_000],
  ['2 hours', 7_200_000],
  ['4 hours', 14_400_000],
  ['1 day', 86_400_000],
  ['1 week', 604_800_000],
];

const toMatcher = (r: Row): Matcher => ({
  name: r.name.trim(),
  value: r.value,
  isRegex: r.op === '=~' || r.op === '!~',
  isEqual: r.op === '=' || r.op === '=~',
});

const opOf = (m: Matcher): Op => (m.isRegex ? (m.isEqual ? '=~' : '!~') : m.isEqual ? '=' : '!=');

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
  const [error, setError] = useState('');
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
  const update = (k: number, patch: Partial<Row>) => setRows(rows.map((r, j) => (j === k ? { ...r, ...patch } : r)));
  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    const now = Date.now();
    try {
      await call('POST', '/api/v2/silences', {
        matchers: rows.filter((r) => r.name.trim()).map(toMatcher),
        startsAt: new Date(now).toISOString(),
        endsAt: new Date(now + duration).toISOString(),
        createdBy: me.subject,
        comment,
      });
      navigate(`${BASE}/silences`, true);
      onCreated();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section aria-labelledby="new-silence" class="card">
      <h2 id="new-silence">New silence</h2>
      <form onSubmit={submit}>
        <fieldset>
          <legend>Matchers (all must hold)</legend>
          {rows.map((r, k) => (
            <div class="matcher" key={k}>
              <label>
                Name
                <input required value={r.name} onInput={(e) => update(k, { name: e.currentTarget.value })} />
              </label>
              <Choice
                label="Operator"
                value={r.op}
                options={OPS.map((o) => [o, o])}
                onChange={(op) => update(k, { op: op as Op })}
              />
              <label>
                Value
                <input value={r.value} onInput={(e) => update(k, { value: e.currentTarget.value })} />
              </label>
              <button
                type="button"
                aria-label={`Remove matcher ${k + 1}`}
                disabled={rows.length === 1}
                onClick={() => setRows(rows.filter((_, j) => j !== k))}
              >
                Remove
              </button>
            </div>
          ))}
          <button type="button" onClick={() => setRows([...rows, { name: '', op: '=', value: '' }])}>
            Add matcher
          </button>
        </fieldset>
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
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
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
  const [silences, setSilences] = useState<Silence[] | null>(null);
  const [error, setError] = useState('');
  const [seq, setSeq] = useState(0);
  useEffect(() => {
    call<Silence[]>('GET', '/api/v2/silences')
      .then(setSilences)
      .catch((err: Error) => setError(err.message));
  }, [seq]);
  const expire = async (id: string) => {
    try {
      await call('DELETE', `/api/v2/silence/${encodeURIComponent(id)}`);
      setSeq(seq + 1);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const creating = mayAct(me.role) && search.get('new') === '1';
  const order = { active: 0, pending: 1, expired: 2 };
  const sorted = [...(silences ?? [])].sort(
    (a, b) => order[a.status.state] - order[b.status.state] || (a.endsAt < b.endsAt ? -1 : 1),
  );
  return (
    <main class="silences">
      <div class="toolbar">
        <h1>Silences</h1>
        {mayAct(me.role) && !creating && (
          <a class="button" href={`${BASE}/silences?new=1`} onClick={follow}>
            New silence
          </a>
        )}
      </div>
      {creating && <NewSilence me={me} onCreated={() => setSeq(seq + 1)} />}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {silences === null ? (
        <p>Loading…</p>
      ) : sorted.length === 0 ? (
        <p>No silence.</p>
      ) : (
        <table aria-label="Silences">
          <thead>
            <tr>
              <th scope="col">State</th>
              <th scope="col">Matchers</th>
              <th scope="col">Ends</th>
              <th scope="col">By</th>
              <th scope="col">Comment</th>
              {mayAct(me.role) && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {sorted.map((s) => (
              <tr key={s.id} data-id={s.id}>
                <td>
                  <span class={`state silence-${s.status.state}`}>{s.status.state}</span>
                </td>
                <td>
                  {s.matchers.map((m, k) => (
                    <span key={k} class="chip">
                      {m.name}
                      {opOf(m)}
                      {JSON.stringify(m.value)}
                    </span>
                  ))}
                </td>
                <td>{localTime(s.endsAt)}</td>
                <td>{s.createdBy}</td>
                <td>{s.comment}</td>
                {mayAct(me.role) && (
                  <td>
                    {s.status.state !== 'expired' && (
                      <button
                        type="button"
                        aria-label={`Expire silence ${s.comment}`}
                        onClick={() => void expire(s.id)}
                      >
                        Expire
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
