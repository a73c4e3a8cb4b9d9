import { useMemo, useState } from 'preact/hooks';
import { mayAct, send, type DryRunChange, type DryRunResult, type Incident, type Me } from './api.ts';
import { Choice } from './controls.tsx';
import { localTime, severityClass } from './format.ts';

/** How long the virtual clock runs on after the last event, so that deadlines and timers play out. */
const RUN_ON: [string, string][] = [
  ['0', 'no longer'],
  ['60', '1 minute'],
  ['600', '10 minutes'],
  ['3600', '1 hour'],
  ['86400', '1 day'],
];

const EXAMPLE = [
  { time: '2026-01-05T10:00:00Z', asset: 'web-1', type: 'down', severity: 'ERROR', title: 'web-1 unreachable' },
  { time: '2026-01-05T10:02:00Z', asset: 'web-1', type: 'up', severity: 'INFO', title: 'web-1 reachable' },
]
  .map((e) => JSON.stringify(e))
  .join('\n');

/**
 * The events as the API takes them: a JSON array as JSON (checked here, so a typo is told at
 * once with its place), anything else as NDJSON, whose unreadable lines the API lists.
 */
export function eventsBody(text: string): { text: string; type: string } {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    JSON.parse(trimmed);
    return { text: trimmed, type: 'application/json' };
  }
  return { text, type: 'application/x-ndjson' };
}

interface Outcome {
  incident: Incident;
  kinds: string[];
}

/** Each incident the run touched, as the run left it, with what happened to it in order. */
function outcomes(changes: DryRunChange[]): Outcome[] {
  const by = new Map<string, Outcome>();
  for (const c of changes) {
    const o = by.get(c.incident.id);
    if (o) {
      o.incident = c.incident;
      o.kinds.push(c.kind);
    } else by.set(c.incident.id, { incident: c.incident, kinds: [c.kind] });
  }
  return [...by.values()];
}

const labelsOf = (i: Incident) =>
  Object.entries(i.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');

function Result({ result }: { result: DryRunResult }) {
  const touched = useMemo(() => outcomes(result.changes), [result]);
  const open = touched.filter((o) => o.incident.status !== 'resolved').length;
  const { stats, pipeline } = result;
  return (
    <>
      <section aria-labelledby="tester-summary" class="card">
        <h2 id="tester-summary">What the rules would do</h2>
        <p data-testid="tester-summary">
          {stats.events} events read{result.rejected.length ? `, ${result.rejected.length} not readable` : ''}
          {stats.late ? `, ${stats.late} too late` : ''}
          {stats.dropped ? `, ${stats.dropped} dropped by processors` : ''}: {touched.length}{' '}
          {touched.length === 1 ? 'incident' : 'incidents'}, {open} still open and {touched.length - open} resolved at
          the end, in {result.changes.length} {result.changes.length === 1 ? 'change' : 'changes'}.
        </p>
        {pipeline.name && (
          <p class="hint">
            Read as the {pipeline.name} pipeline reads them:{' '}
            {pipeline.receiver ? `the ${pipeline.receiver} receiver's mapping` : 'its mapping'}
            {pipeline.processors.length ? `, then processors ${pipeline.processors.join(', ')}` : ''}.
          </p>
        )}
      </section>
      {result.rejected.length > 0 && (
        <section aria-labelledby="tester-rejected" class="card">
          <h2 id="tester-rejected">Events not read</h2>
          <ul data-testid="tester-rejected">
            {result.rejected.map((r) => (
              <li key={r.line}>
                Line {r.line}: {r.reason}
              </li>
            ))}
          </ul>
        </section>
      )}
      {touched.length > 0 && (
        <table aria-label="Incidents the rules would make" data-testid="tester-incidents">
          <thead>
            <tr>
              <th scope="col">Severity</th>
              <th scope="col">Title</th>
              <th scope="col">Rule</th>
              <th scope="col">Group</th>
              <th scope="col">At the end</th>
              <th scope="col">Changes</th>
            </tr>
          </thead>
          <tbody>
            {touched.map(({ incident: i, kinds }) => (
              <tr key={i.id}>
                <td>
                  <span class={`sev sev-${severityClass(i.severity_number)}`}>{i.severity}</span>
                </td>
                <td>{i.title}</td>
                <td>{i.rule}</td>
                <td>{labelsOf(i)}</td>
                <td class="state">{i.status}</td>
                <td>{kinds.join(' → ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {result.changes.length > 0 && (
        <section aria-labelledby="tester-timeline">
          <h2 id="tester-timeline">Timeline</h2>
          <ol class="timeline" data-testid="tester-timeline">
            {result.changes.map((c, k) => (
              <li key={k}>
                <time dateTime={c.time}>{localTime(c.time)}</time> <strong>{c.kind}</strong> {c.incident.title}{' '}
                <span class="reason">
                  ({c.incident.rule}
                  {c.reason ? `: ${c.reason}` : ''}
                  {c.notify ? '' : '; no notification'})
                </span>
              </li>
            ))}
          </ol>
        </section>
      )}
      {stats.ignored.length > 0 && (
        <section aria-labelledby="tester-ignored" class="card">
          <h2 id="tester-ignored">Events a rule could do nothing with</h2>
          <ul>
            {stats.ignored.map((g) => (
              <li key={`${g.rule} ${g.reason}`}>
                {g.rule}: {g.count} × {g.reason}
              </li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}

/**
 * Paste or upload events, and see the incidents the running rules would open, update and resolve
 * from them (`POST /api/v1/rules/dry-run`): nothing is stored or notified.
 */
export function RuleTesterPage({ me }: { me: Me }) {
  const [events, setEvents] = useState('');
  const [rules, setRules] = useState('');
  const [runOn, setRunOn] = useState('600');
  const [result, setResult] = useState<DryRunResult | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  if (!mayAct(me.role))
    return (
      <main class="tester">
        <h1>Rule tester</h1>
        <p>Testing rules needs the operator role.</p>
      </main>
    );

  const run = async (e: Event) => {
    e.preventDefault();
    setError('');
    setBusy(true);
    try {
      let body;
      try {
        body = eventsBody(events);
      } catch (err) {
        throw new Error(`The events are not a valid JSON array: ${(err as Error).message}`, { cause: err });
      }
      const q = new URLSearchParams({ after_seconds: runOn });
      const only = rules
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      if (only.length) q.set('rule', only.join(','));
      setResult(await send<DryRunResult>('POST', `/api/v1/rules/dry-run?${q}`, body));
    } catch (err) {
      setResult(null);
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const upload = async (e: Event) => {
    const file = (e.currentTarget as HTMLInputElement).files?.[0];
    if (file) setEvents(await file.text());
  };

  return (
    <main class="tester">
      <h1>Rule tester</h1>
      <p class="hint">
        Events run through this Vigil's pipeline and rules on a clock of their own, from empty state: nothing is stored,
        and no one is told.
      </p>
      <form class="card" onSubmit={run}>
        <label>
          Events (a JSON array, or one JSON object per line)
          <textarea
            rows={10}
            spellcheck={false}
            required
            placeholder={EXAMPLE}
            value={events}
            onInput={(ev) => setEvents(ev.currentTarget.value)}
          />
        </label>
        <label>
          Or read them from a file
          <input type="file" accept=".json,.ndjson,.jsonl,application/json" onChange={(ev) => void upload(ev)} />
        </label>
        <label>
          Only these rules (comma-separated; empty for all)
          <input value={rules} onInput={(ev) => setRules(ev.currentTarget.value)} />
        </label>
        <Choice label="Run the clock on after the last event for" value={runOn} options={RUN_ON} onChange={setRunOn} />
        <button type="submit" disabled={busy}>
          Run the rules
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {result && <Result result={result} />}
    </main>
  );
}
