import { describe, expect, it } from 'vitest';
import { expectAccessible, screenshot } from './browser.ts';
import { keyedConsole } from './keyedConsole.ts';

// A correlating daemon: windows are silences of its core.
const ui = keyedConsole(
  `
  tick_interval: 50ms
  rules:
    - { kind: pair, name: asset_down, group_by: [tenant, asset] }
`,
  [
    { name: 'acme-ops', role: 'operator', tenant: 'acme' },
    { name: 'acme-dash', role: 'viewer', tenant: 'acme' },
  ],
);

interface ApiWindow {
  id: string;
  starts_at: string;
  ends_at: string | null;
  days: string[];
  start: string;
  end: string;
  timezone: string;
  comment: string;
  created_by: string;
  status: string;
  matchers: { name: string; value: string; isRegex: boolean; isEqual: boolean }[];
}

async function listWindows(key: string): Promise<ApiWindow[]> {
  const res = await fetch(`${ui.base}/api/v1/maintenance-windows`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as ApiWindow[];
}

describe('the maintenance page in Chromium', () => {
  it('creates a weekly window in a time zone from the form, lists it as the API does, and expires it', async () => {
    const page = await ui.signedIn('acme-ops');
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Maintenance' }).click();
    await page.getByRole('heading', { name: 'Maintenance windows' }).waitFor();
    await page.getByText('No maintenance window.').waitFor();
    await page.getByRole('link', { name: 'New maintenance window' }).click();
    await page.getByRole('heading', { name: 'New maintenance window' }).waitFor();

    await page.getByLabel('Name', { exact: true }).fill('asset');
    await page.getByLabel('Operator').selectOption('=~');
    await page.getByLabel('Value', { exact: true }).fill('web-.*');
    await page.getByLabel('Sat', { exact: true }).check();
    await page.getByLabel('From', { exact: true }).fill('01:30');
    await page.getByLabel(/^To/).fill('03:00');
    await page.getByLabel('Comment').fill('kernel updates');
    // A zone that is not an IANA name: the API's refusal is shown and nothing is created.
    await page.getByLabel('Time zone', { exact: true }).fill('Mars/Olympus');
    await page.getByRole('button', { name: 'Create window' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Mars\/Olympus/);
    expect(await listWindows(ui.keys['acme-ops']!)).toEqual([]);

    await page.getByLabel('Time zone', { exact: true }).fill('Europe/Paris');
    await expectAccessible(page, 'the new maintenance window form');
    await screenshot(page, 'maintenance-new');
    await page.getByRole('button', { name: 'Create window' }).click();
    const row = page.locator('tbody tr', { hasText: 'kernel updates' });
    await expect.poll(() => row.locator('.state').textContent()).toBe('active');
    expect(await row.locator('.schedule').textContent()).toBe('Sat, Sun 01:30–03:00');
    // Made with no start and no end: from now until expired.
    expect(await row.locator('.range').textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d – until expired$/);
    expect(await row.textContent()).toContain('Europe/Paris');
    expect(await row.textContent()).toContain('asset=~"web-.*"');
    expect(await page.getByRole('heading', { name: 'New maintenance window' }).count()).toBe(0);
    await expectAccessible(page, 'the maintenance page');
    await screenshot(page, 'maintenance');

    const [created] = await listWindows(ui.keys['acme-ops']!);
    expect(created).toMatchObject({
      days: ['sat', 'sun'],
      start: '01:30',
      end: '03:00',
      timezone: 'Europe/Paris',
      comment: 'kernel updates',
      created_by: 'acme-ops',
      status: 'active',
      matchers: [{ name: 'asset', value: 'web-.*', isRegex: true, isEqual: true }],
    });
    expect(await row.getAttribute('data-id')).toBe(created!.id);

    await page.getByRole('button', { name: 'Expire maintenance window kernel updates' }).click();
    await expect.poll(() => row.locator('.state').textContent()).toBe('expired');
    expect(await row.getByRole('button', { name: /Expire/ }).count()).toBe(0);
    expect((await listWindows(ui.keys['acme-ops']!)).map((w) => w.status)).toEqual(['expired']);
  });

  it("takes a start and an end in the window's time zone, and shows the API's refusal of an end before the start, creating nothing", async () => {
    const page = await ui.signedIn('acme-ops');
    await page.goto(`${ui.base}/ui/maintenance?new=1`);
    await page.getByRole('heading', { name: 'New maintenance window' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('asset');
    await page.getByLabel('Value', { exact: true }).fill('db-9');
    await page.getByLabel('Mon', { exact: true }).check();
    await page.getByLabel('Sun', { exact: true }).uncheck();
    await page.getByLabel('From', { exact: true }).fill('22:00');
    await page.getByLabel(/^To/).fill('23:30');
    await page.getByLabel('Comment').fill('database migration');
    await page.getByLabel('Time zone', { exact: true }).fill('America/New_York');
    // 09:00 in New York in January is 14:00 UTC.
    await page.getByLabel(/^Starts/).fill('2027-01-04T09:00');
    await page.getByLabel(/^Ends/).fill('2027-01-03T09:00');
    await page.getByRole('button', { name: 'Create window' }).click();
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toBe('ends_at (2027-01-03T14:00:00.000Z) must be after starts_at (2027-01-04T14:00:00.000Z)');
    expect((await listWindows(ui.keys['acme-ops']!)).filter((w) => w.comment === 'database migration')).toEqual([]);
    await expectAccessible(page, 'the new maintenance window form with a start and an end');

    await page.getByLabel(/^Ends/).fill('2027-01-31T18:00');
    await page.getByRole('button', { name: 'Create window' }).click();
    const row = page.locator('tbody tr', { hasText: 'database migration' });
    await expect.poll(() => row.locator('.state').textContent()).toBe('pending');
    expect(await row.locator('.range').textContent()).toBe('2027-01-04 09:00 – 2027-01-31 18:00');
    expect(await row.locator('.schedule').textContent()).toBe('Mon 22:00–23:30');
    // The next occurrence in the window's zone too, as its schedule and range are, whatever the browser's.
    expect(await row.locator('.next').textContent()).toBe('2027-01-04 22:00 – 2027-01-04 23:30');
    const created = (await listWindows(ui.keys['acme-ops']!)).find((w) => w.comment === 'database migration');
    expect(created).toMatchObject({
      starts_at: '2027-01-04T14:00:00.000Z',
      ends_at: '2027-01-31T23:00:00.000Z',
      timezone: 'America/New_York',
      status: 'pending',
    });
  });

  it('shows a viewer the windows without a create or expire button', async () => {
    const res = await fetch(`${ui.base}/api/v1/maintenance-windows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ui.keys['acme-ops']!}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: [{ name: 'asset', value: 'db-1', isRegex: false, isEqual: true }],
        days: ['wed'],
        start: '22:00',
        end: '01:00',
        timezone: 'America/New_York',
        comment: 'backups',
      }),
    });
    expect(res.status).toBe(201);
    const page = await ui.signedIn('acme-dash');
    await page.goto(`${ui.base}/ui/maintenance?new=1`);
    const row = page.locator('tbody tr', { hasText: 'backups' });
    await expect.poll(() => row.locator('.schedule').textContent()).toBe('Wed 22:00–01:00');
    expect(await row.textContent()).toContain('America/New_York');
    expect(await page.getByRole('heading', { name: 'New maintenance window' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'New maintenance window' }).count()).toBe(0);
    expect(await page.getByRole('button').allTextContents()).toEqual(['Sign out']);
    await expectAccessible(page, "a viewer's maintenance page");
  });
});
