import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { correlatingConfig, postEvents, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeOidcProvider, newSigningKey } from '../support/fakes/oidcProvider.ts';
import { expectAccessible, launchChromium, screenshot } from './browser.ts';

const UI_TIMEOUT = 15_000;
const ALICE = { sub: 'alice', groups: ['vigil-operators'], org: 'acme' };

let idp: FakeOidcProvider;
let daemon: RunningDaemon;
let browser: Browser;
let base: string;
const contexts: BrowserContext[] = [];

/** A daemon whose console signs in with the provider; its authenticator maps `groups` to the role and `org` to the tenant. */
function config(issuer: string): string {
  const yaml = correlatingConfig(`
  tick_interval: 50ms
  defaults: { group_wait: 0s, group_interval: 1s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [tenant, asset] }
`).replace(
    'service:\n',
    `extensions:
  authenticator:
    jwt:
      issuer: ${issuer}
      audience: [vigil]
      roles_claim: groups
      role_mapping: { vigil-operators: operator }
      tenant_claim: org
service:
  extensions: [authenticator]
`,
  );
  return `${yaml}\napi:\n  endpoint: 127.0.0.1:0\n  auth:\n    authenticator: authenticator\n    oidc: { client_id: vigil-console, client_secret: console-secret }\n`;
}

async function newPage(): Promise<{ page: Page; context: BrowserContext }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(UI_TIMEOUT);
  contexts.push(context);
  return { page: await context.newPage(), context };
}

beforeAll(async () => {
  idp = await new FakeOidcProvider().start(await newSigningKey('k1'));
  daemon = await startDaemon(config(idp.issuer));
  base = daemon.apiUrl('');
  idp.register({
    clientId: 'vigil-console',
    clientSecret: 'console-secret',
    redirectUris: [`${base}/ui/auth/callback`],
  });
  browser = await launchChromium();
}, 120_000);

afterEach(() => {
  idp.user = ALICE;
  idp.idTokenTtl = 3600;
});

afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await daemon?.stop();
  await idp?.close();
});

describe('single sign-on in the console (OIDC, in Chromium)', () => {
  it('signs in through the identity provider, back on the page it started from, with no token the page can read, and acts with that session', async () => {
    idp.user = ALICE;
    const { page, context } = await newPage();
    await page.goto(`${base}/ui/silences`);
    const sso = page.getByRole('link', { name: 'Sign in with single sign-on' });
    await sso.waitFor();
    await expectAccessible(page, 'the sign-in page with single sign-on');
    await screenshot(page, 'sign-in-sso');
    await sso.click();

    await expect.poll(() => page.getByTestId('who').textContent()).toBe('alice · operator · tenant acme');
    await page.getByRole('heading', { name: 'Silences' }).waitFor();
    // Nothing of the sign-in is left in the address, the page's storage or its cookies.
    expect(page.url()).toBe(`${base}/ui/silences`);
    expect(await page.evaluate('document.cookie')).toBe('');
    expect(await page.evaluate('sessionStorage.length + localStorage.length')).toBe(0);
    const cookies = await context.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite, c.path])).toEqual([
      ['vigil_session', true, 'Strict', '/'],
    ]);
    const asked = idp.authorizeRequests().at(-1)!;
    expect(asked.get('code_challenge_method')).toBe('S256');
    expect(idp.tokenRequests().at(-1)!.get('code_verifier')).toMatch(/^[\w-]{43}$/);

    // The session reads the live stream and acknowledges, as a key would.
    await page.getByRole('link', { name: 'Incidents' }).click();
    await page
      .getByTestId('live')
      .filter({ hasText: /^live$/ })
      .waitFor();
    await postEvents(daemon, [
      { asset: 'db-3', type: 'down', title: 'db-3 unreachable', severity: 'ERROR', tenant: 'acme' },
    ]);
    const row = page.locator('tr.row', { hasText: 'db-3 unreachable' });
    await row.waitFor();
    await row.getByRole('button', { name: 'Acknowledge db-3 unreachable' }).click();
    await expect.poll(() => row.locator('.state').textContent()).toBe('acknowledged');
    await expectAccessible(page, 'the incidents page after single sign-on');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await sso.waitFor();
    expect(await context.cookies()).toEqual([]);
    await page.reload();
    await sso.waitFor();
    expect(await page.getByTestId('who').count()).toBe(0);
  });

  it('shows why a sign-in was refused (an expired ID token), and keeps the reason out of the address', async () => {
    idp.idTokenTtl = -120;
    const { page, context } = await newPage();
    await page.goto(`${base}/ui/`);
    await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('token expired');
    expect(page.url()).toBe(`${base}/ui/`);
    expect(await context.cookies()).toEqual([]);
    await expectAccessible(page, 'a refused sign-in');
  });
});
