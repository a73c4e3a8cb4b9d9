import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { correlatingConfig, createApiKey, postEvents, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { FakeGlpi } from '../support/fakes/glpi.ts';
import { waitFor } from '../support/waitFor.ts';
import { expectAccessible, launchChromium, screenshot, signIn } from './browser.ts';

// One daemon and one browser for the file; generous timeouts for a loaded two-core machine.
const UI_TIMEOUT = 15_000;

let daemon: RunningDaemon;
let glpi: FakeGlpi;
let browser: Browser;
let base: string;
const keys: Record<string, string> = {};
const contexts: BrowserContext[] = [];

/** A daemon that correlates Down/Up events per tenant and asset, opens GLPI tickets, and serves the API to API keys. */
function config(glpiUrl: string): string {
  const yaml = correlatingConfig(
    `
  tick_interval: 50ms
  defaults: { group_wait: 0s, group_interval: 1s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [tenant, asset] }
    - kind: threshold
      name: checkout_errors
      match: 'attributes["check"] == "http"'
      group_by: [service]
      window: 60s
      threshold: 5
`,
    { id: 'glpi', yaml: `\n  glpi:\n    url: ${glpiUrl}\n    app_token: app-token-1\n    user_token: user-token-1` },
  ).replace('service:\n', 'extensions:\n  authenticator:\n    api_keys: {}\nservice:\n  extensions: [authenticator]\n');
  return `${yaml}\napi:\n  endpoint: 127.0.0.1:0\n  auth: { authenticator: authenticator }\n`;
}

async function newPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(UI_TIMEOUT);
  contexts.push(context);
  return context.newPage();
}

beforeAll(async () => {
  glpi = await new FakeGlpi().listen();
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-console-'));
  const configFile = join(dataDir, 'vigil.yaml');
  writeFileSync(configFile, config(glpi.apiUrl));
  for (const [name, role, tenant] of [
    ['acme-ops', 'operator', 'acme'],
    ['acme-dash', 'viewer', 'acme'],
    ['globex-ops', 'operator', 'globex'],
  ] as const) {
    keys[name] = await createApiKey(configFile, dataDir, { name, role, tenant });
  }
  daemon = await startDaemon(config(glpi.apiUrl), { dataDir });
  base = daemon.apiUrl('');
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await daemon?.stop();
  await glpi?.close();
});

describe('the web console in Chromium', () => {
  let incidentPath = '';

  it('signs an operator in, shows an incident live as its events open it, acknowledges it from the keyboard and the ticket hears of it', async () => {
    const page = await newPage();
    // Reads of the incident list (not of the stream, nor of one incident).
    let listReads = 0;
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/incidents') listReads++;
    });
    await page.goto(`${base}/ui/`);
    await expectAccessible(page, 'the sign-in page');
    await screenshot(page, 'sign-in');
    await page.getByLabel('API key').fill('vgk_not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not valid');

    await signIn(page, base, keys['acme-ops']!);
    expect(await page.getByTestId('who').textContent()).toBe('acme-ops · operator · tenant acme');
    await page
      .getByTestId('live')
      .filter({ hasText: /^live$/ })
      .waitFor();
    await expectAccessible(page, 'the empty incidents page');

    await expect.poll(() => page.locator('.count').textContent()).toBe('0 incidents');
    expect(listReads, 'the list read once signed in').toBeGreaterThan(0);
    const readsBefore = listReads;
    await postEvents(daemon, [
      { asset: 'web-1', type: 'down', title: 'web-1 unreachable', severity: 'ERROR', tenant: 'acme' },
    ]);
    const row = page.locator('tr.row', { hasText: 'web-1 unreachable' });
    await row.waitFor();
    // Live: the stream brought it, on the connection open before the events; no list was read again.
    expect(listReads - readsBefore, 'list reads between the events sent and the incident shown').toBe(0);
    expect(await page.getByTestId('live').textContent()).toBe('live');
    await expect.poll(() => row.textContent()).toContain('asset_down');
    expect(await row.textContent()).toContain('asset=web-1');
    expect(await row.locator('.state').textContent()).toBe('open');
    await waitFor(() => glpi.tickets.size === 1, 'the GLPI ticket');
    await expectAccessible(page, 'the incidents page');

    // From the keyboard alone: Tab until the incident's Acknowledge button has focus, then Enter.
    await page.locator('body').focus();
    let focused = '';
    for (let n = 0; n < 60 && focused !== 'Acknowledge web-1 unreachable'; n++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => {
        const d = (
          globalThis as unknown as { document: { activeElement: { getAttribute(name: string): string | null } | null } }
        ).document;
        return d.activeElement?.getAttribute('aria-label') ?? '';
      });
    }
    expect(focused).toBe('Acknowledge web-1 unreachable');
    await page.keyboard.press('Enter');
    await expect.poll(() => row.locator('.state').textContent(), { timeout: UI_TIMEOUT }).toBe('acknowledged');
    await waitFor(() => glpi.followups.length === 1, 'the GLPI follow-up');
    expect(glpi.followups[0]!.content).toContain('acknowledged by acme-ops');
    // The acknowledgement came over the stream with the incident's ticket, a link into GLPI.
    const ticket = row.locator('td.tickets a');
    await expect.poll(() => ticket.textContent()).toMatch(/^\d+$/);
    expect(await row.locator('td.tickets').textContent()).toBe(`glpi: ${await ticket.textContent()}`);
    expect(await ticket.getAttribute('href')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*ticket.*\d+/);
    await expectAccessible(page, 'the incidents page with a ticket link');
    await screenshot(page, 'incidents');
    incidentPath = (await row.locator('td.title a').getAttribute('href'))!;
  });

  it("opens the incident's timeline, comments on it, and silences its rule with a preview of what the silence matches", async () => {
    const page = await newPage();
    await signIn(page, base, keys['acme-ops']!);
    await page.locator('tr.row', { hasText: 'web-1 unreachable' }).locator('td.title a').click();
    const timeline = page.getByTestId('timeline');
    await expect.poll(() => timeline.textContent()).toContain('acknowledged by acme-ops');
    expect(await page.locator('ol.timeline li strong').allTextContents()).toEqual(['opened', 'acknowledged']);
    expect(await page.getByTestId('rule-words').textContent()).toBe(
      'Rule asset_down (pair) opens on a down event, per tenant, asset, and resolves on its up event.',
    );
    await expect.poll(() => page.locator('section', { hasText: 'Tickets' }).textContent()).toMatch(/glpi: \d+/);
    await expectAccessible(page, 'the incident page');

    await page.getByRole('button', { name: 'Comment on web-1 unreachable' }).click();
    await page.getByRole('dialog').getByLabel('Comment').fill('cable replaced');
    await page.getByRole('button', { name: 'Add comment' }).click();
    await expect.poll(() => timeline.textContent()).toContain('comment by acme-ops: cable replaced');
    await waitFor(() => glpi.followups.some((f) => f.content.includes('cable replaced')), 'the comment on the ticket');
    await screenshot(page, 'incident');

    await page.getByRole('link', { name: 'Silence like this' }).click();
    await page.getByRole('heading', { name: 'New silence' }).waitFor();
    // Prefilled with the rule and the group labels; the preview reads the open incidents.
    const values = await Promise.all((await page.locator('.matcher input').all()).map((i) => i.inputValue()));
    expect(values).toEqual(['rule', 'asset_down', 'asset', 'web-1', 'tenant', 'acme']);
    await expect.poll(() => page.getByTestId('preview-count').textContent()).toBe('1 of 1 open incidents');
    await page.locator('.matcher').nth(2).getByRole('button', { name: 'Remove matcher 3' }).click();
    await page.locator('.matcher').nth(0).getByLabel('Value').fill('nothing_like_it');
    await expect.poll(() => page.getByTestId('preview-count').textContent()).toBe('0 of 1 open incidents');
    await page.locator('.matcher').nth(0).getByLabel('Value').fill('asset_down');
    await page.getByLabel('Comment').fill('switch swap');
    await expectAccessible(page, 'the new silence form');
    await screenshot(page, 'silence-new');
    await page.getByRole('button', { name: 'Create silence' }).click();
    const silenceRow = page.locator('tbody tr', { hasText: 'switch swap' });
    await expect.poll(() => silenceRow.locator('.state').textContent()).toBe('active');
    expect(await silenceRow.textContent()).toContain('rule="asset_down"');
    await expectAccessible(page, 'the silences page');
    await screenshot(page, 'silences');

    // The incident is silenced, as the API says and the console shows.
    await page.goto(`${base}${incidentPath}`);
    await expect.poll(() => page.textContent('main')).toMatch(/silenced by silence:/);

    // Expired from the list.
    await page.goto(`${base}/ui/silences`);
    await page.getByRole('button', { name: 'Expire silence switch swap' }).click();
    await expect.poll(() => silenceRow.locator('.state').textContent()).toBe('expired');
  });

  it('runs pasted or uploaded events through the rules in the rule tester, and shows what they would open and resolve, storing nothing', async () => {
    const page = await newPage();
    await signIn(page, base, keys['acme-ops']!);
    await page.getByRole('link', { name: 'Rule tester' }).click();
    await page.getByRole('heading', { name: 'Rule tester' }).waitFor();
    await expectAccessible(page, 'the empty rule tester');

    const lines = [
      { time: '2026-11-02T10:00:00Z', asset: 'lb-1', type: 'down', title: 'lb-1 unreachable', severity: 'ERROR' },
      { time: '2026-11-02T10:00:10Z', asset: 'lb-2', type: 'down', title: 'lb-2 unreachable', severity: 'FATAL' },
      'not json',
      { time: '2026-11-02T10:01:00Z', asset: 'lb-1', type: 'up', title: 'lb-1 reachable', severity: 'INFO' },
    ].map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
    const events = page.getByLabel('Events (a JSON array, or one JSON object per line)');
    await page.getByLabel('Or read them from a file').setInputFiles({
      name: 'events.ndjson',
      mimeType: 'application/x-ndjson',
      buffer: Buffer.from(lines.join('\n')),
    });
    await expect.poll(() => events.inputValue()).toBe(lines.join('\n'));
    await page.getByRole('button', { name: 'Run the rules' }).click();
    await expect
      .poll(() => page.getByTestId('tester-summary').textContent())
      .toBe('3 events read, 1 not readable: 2 incidents, 1 still open and 1 resolved at the end, in 3 changes.');
    const rows = page.getByTestId('tester-incidents').locator('tbody tr');
    const cells = async () => (await rows.all()).map(async (r) => (await r.locator('td').allTextContents()).slice(2));
    expect(await Promise.all(await cells())).toEqual(
      expect.arrayContaining([
        ['asset_down', 'asset=lb-1, tenant=acme', 'resolved', 'opened → resolved'],
        ['asset_down', 'asset=lb-2, tenant=acme', 'open', 'opened'],
      ]),
    );
    expect(await rows.count()).toBe(2);
    expect(await page.getByTestId('tester-rejected').textContent()).toMatch(/^Line 3: /);
    expect(await page.getByTestId('tester-timeline').locator('strong').allTextContents()).toEqual([
      'opened',
      'opened',
      'resolved',
    ]);
    await expectAccessible(page, 'the rule tester with a result');
    await screenshot(page, 'rule-tester');

    // Only the rules asked for: an unknown one is refused with the names of those that exist.
    await page.getByLabel('Only these rules').fill('no_such_rule');
    await page.getByRole('button', { name: 'Run the rules' }).click();
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toContain('names no rule no_such_rule; the rules are asset_down, checkout_errors');
    // A JSON array with a mistake is told before anything is sent.
    await page.getByLabel('Only these rules').fill('');
    await events.fill('[{"asset": "lb-3",}]');
    await page.getByRole('button', { name: 'Run the rules' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not a valid JSON array');

    // A dry run: the incidents list has none of them.
    await page.getByRole('link', { name: 'Incidents' }).click();
    await page.locator('tr.row', { hasText: 'web-1 unreachable' }).waitFor();
    expect(await page.locator('tr.row', { hasText: /lb-[12]/ }).count()).toBe(0);
  });

  it('shows a viewer the incidents and their timelines without any action', async () => {
    const page = await newPage();
    await signIn(page, base, keys['acme-dash']!);
    expect(await page.getByTestId('who').textContent()).toBe('acme-dash · viewer · tenant acme');
    const row = page.locator('tr.row', { hasText: 'web-1 unreachable' });
    await row.waitFor();
    expect((await page.getByRole('button').allTextContents()).sort()).toEqual(['Search', 'Sign out']);
    expect(await page.getByRole('link', { name: 'New silence' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Rule tester' }).count()).toBe(0);
    await row.locator('td.title a').click();
    await page.getByTestId('timeline').waitFor();
    expect(await page.getByRole('button').allTextContents()).toEqual(['Sign out']);
    expect(await page.getByRole('link', { name: 'Silence like this' }).count()).toBe(0);
    await page.goto(`${base}/ui/silences?new=1`);
    await page.getByRole('heading', { name: 'Silences' }).waitFor();
    expect(await page.getByRole('heading', { name: 'New silence' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /Expire/ }).count()).toBe(0);
    await expectAccessible(page, "a viewer's silences page");
  });

  it("shows another tenant none of it: its list stays empty while its own incident arrives live, and the first tenant's incident page is not found", async () => {
    const page = await newPage();
    await signIn(page, base, keys['globex-ops']!);
    await page
      .getByTestId('live')
      .filter({ hasText: /^live$/ })
      .waitFor();
    await expect.poll(() => page.locator('.count').textContent()).toBe('0 incidents');
    await postEvents(daemon, [
      { asset: 'db-7', type: 'down', title: 'db-7 unreachable', severity: 'FATAL', tenant: 'globex' },
      { asset: 'web-2', type: 'down', title: 'web-2 unreachable', severity: 'ERROR', tenant: 'acme' },
    ]);
    await page.locator('tr.row', { hasText: 'db-7 unreachable' }).waitFor();
    await expect.poll(() => page.locator('.count').textContent()).toBe('1 incident');
    expect(await page.locator('tr.row').allTextContents()).toEqual([expect.stringContaining('db-7 unreachable')]);
    await page.goto(`${base}${incidentPath}`);
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/no incident has id/);
  });

  it("shows a caller bound to a tenant the overview without pipeline health, whose figures count every tenant's records", async () => {
    const page = await newPage();
    await signIn(page, base, keys['acme-dash']!);
    const health = page.waitForResponse((r) => r.url().endsWith('/api/v1/stats/pipeline'));
    await page.goto(`${base}/ui/overview`);
    expect((await health).status()).toBe(403);
    await page.getByRole('heading', { name: 'Open now' }).waitFor();
    expect(await page.getByRole('heading', { name: /Pipeline health/ }).count()).toBe(0);
    await expectAccessible(page, "a tenant's overview");
  });

  it("says why a threshold incident opened with the rule's own figures", async () => {
    await postEvents(
      daemon,
      [1, 2, 3, 4, 5].map((n) => ({
        service: 'checkout',
        title: `checkout answered 500 (${n})`,
        severity: 'ERROR',
        tenant: 'acme',
        attributes: { check: 'http' },
      })),
    );
    const page = await newPage();
    await signIn(page, base, keys['acme-dash']!);
    await page.locator('tr.row', { hasText: 'checkout_errors' }).locator('td.title a').click();
    await expect
      .poll(() => page.getByTestId('rule-words').textContent())
      .toBe(
        'Rule checkout_errors (threshold) opens when 5 or more events matching attributes["check"] == "http" arrive within 1m, per service, and resolves when fewer than 5 remain within 1m.',
      );
    await expectAccessible(page, 'the page of a threshold incident');
  });
});
