import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, mayAct, signInOptions, signOut, storeKey, storedKey, whoami, type Me } from './api.ts';
import { IncidentDetailPage } from './incidentDetail.tsx';
import { IncidentsPage } from './incidents.tsx';
import { MaintenancePage } from './maintenance.tsx';
import { BASE, follow, navigate, useLocation } from './router.ts';
import { EventsPage } from './events.tsx';
import { OverviewPage } from './overview.tsx';
import { RuleTesterPage } from './ruleTester.tsx';
import { SilencesPage } from './silences.tsx';
import './style.css';

/** Why the last single sign-on failed, as the server's callback put it in the address; taken out of it at once. */
function takeSignInError(): string {
  const q = new URLSearchParams(location.search);
  const error = q.get('signin_error') ?? '';
  if (error) {
    q.delete('signin_error');
    const rest = q.toString();
    history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}`);
  }
  return error;
}

function SignIn({ onSignedIn, error }: { onSignedIn: (me: Me) => void; error?: string }) {
  const [key, setKey] = useState('');
  const [problem, setProblem] = useState(error ?? '');
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState(false);
  useEffect(() => {
    signInOptions()
      .then((o) => setSso(o.oidc))
      .catch(() => setSso(false));
  }, []);
  const returnTo = encodeURIComponent(`${location.pathname}${location.search}`);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const me = await whoami(key.trim());
      storeKey(key.trim());
      onSignedIn(me);
    } catch (err) {
      setProblem(err instanceof ApiError && err.status === 401 ? 'This API key is not valid.' : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Vigil</h1>
      {sso && (
        <p class="sso">
          <a class="button" href={`${BASE}/auth/login?return_to=${returnTo}`}>
            Sign in with single sign-on
          </a>
        </p>
      )}
      <form onSubmit={submit}>
        <label for="apikey">API key</label>
        <input
          id="apikey"
          type="password"
          autocomplete="off"
          required
          placeholder="vgk_…"
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {problem && (
          <p role="alert" class="error">
            {problem}
          </p>
        )}
        <p class="hint">
          Create one with <code>vigil apikey create --name you --role operator</code>. It is kept in this tab only.
        </p>
      </form>
    </main>
  );
}

const PAGES = [
  { path: `${BASE}/`, label: 'Incidents' },
  { path: `${BASE}/overview`, label: 'Overview' },
  { path: `${BASE}/events`, label: 'Events' },
  { path: `${BASE}/silences`, label: 'Silences' },
  { path: `${BASE}/maintenance`, label: 'Maintenance' },
  { path: `${BASE}/rules/test`, label: 'Rule tester', operator: true },
];

function Shell({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  const { path, search } = useLocation();
  let page;
  const detail = /^\/ui\/incidents\/([^/]+)$/.exec(path);
  if (detail) page = <IncidentDetailPage id={decodeURIComponent(detail[1]!)} me={me} />;
  else if (path === `${BASE}/silences`) page = <SilencesPage me={me} search={search} />;
  else if (path === `${BASE}/maintenance`) page = <MaintenancePage me={me} search={search} />;
  else if (path === `${BASE}/events`) page = <EventsPage search={search} />;
  else if (path === `${BASE}/overview`) page = <OverviewPage search={search} />;
  else if (path === `${BASE}/rules/test`) page = <RuleTesterPage me={me} />;
  else page = <IncidentsPage me={me} search={search} />;
  return (
    <>
      <header class="top">
        <a class="brand" href={`${BASE}/`} onClick={follow}>
          Vigil
        </a>
        <nav aria-label="Pages">
          {PAGES.filter((p) => !p.operator || mayAct(me.role)).map((p) => (
            <a
              key={p.path}
              href={p.path}
              onClick={follow}
              aria-current={
                (p.path === `${BASE}/` ? path === p.path || !!detail : path === p.path) ? 'page' : undefined
              }
            >
              {p.label}
            </a>
          ))}
        </nav>
        <span class="who" data-testid="who">
          {me.subject} · <span class={`role role-${me.role}`}>{me.role}</span>
          {me.tenant !== null && <> · tenant {me.tenant}</>}
        </span>
        {me.method !== 'none' && (
          <button type="button" class="link" onClick={onSignOut}>
            Sign out
          </button>
        )}
      </header>
      {page}
    </>
  );
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [signInError] = useState(takeSignInError);
  useEffect(() => {
    // With a key of this tab, or none (an API without an authenticator lets anyone in with its anonymous role).
    whoami(storedKey())
      .then(setMe)
      .catch(() => setMe(null));
  }, []);
  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <SignIn onSignedIn={setMe} error={signInError} />;
  return (
    <Shell
      me={me}
      onSignOut={() => {
        const keyed = storedKey() !== null;
        storeKey(null);
        // A single sign-on session lives in an HttpOnly cookie the page cannot touch: the server drops it.
        void (keyed ? Promise.resolve() : signOut().catch(() => undefined)).then(() => {
          setMe(null);
          navigate(`${BASE}/`);
        });
      }}
    />
  );
}

render(<App />, document.getElementById('app')!);
