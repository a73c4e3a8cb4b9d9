import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORING_DAEMON } from '../api/traces.ts';
import { postEvents, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/waitFor.ts';
import { expectAccessible, launchChromium, newConsolePage, screenshot } from './browser.ts';

const UI_TIMEOUT = 15_000;
let daemon: RunningDaemon;
let browser: Browser;
let page: Page;
// On a whole second a minute ago, so that every event falls in one bucket of a 1 s histogram.
const T = Math.floor(Date.now() / 1000) * 1000 - 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const SENT = [
  ...['web-1', 'web-2'].map((asset) => ({ asset, type: 'down', title: `${asset} unreachable`, severity: 'FATAL' })),
  ...[1, 2, 3].map((n) => ({ asset: 'db-1', service: 'billing', title: `query timeout ${n}`, severity: 'ERROR' })),
  ...[1, 2].map((n) => ({ asset: 'db-1', service: 'billing', title: `slow query ${n}`, severity: 'WARN' })),
  { asset: 'web-1', service: 'shop', title: 'deploy finished', severity: 'INFO' },
].map((e) => ({ ...e, time: iso(T) }));

beforeAll(async () => {
  daemon = await startDaemon(STORING_DAEMON);
  await postEvents(daemon, SENT);
  await waitFor(async () => {
    const res = await fetch(daemon.apiUrl(`/api/v1/events?from=${iso(T - 1000)}&to=${iso(T + 1000)}`));
    return ((await res.json()) as { events?: unknown[] }).events?.length === SENT.length;
  }, 'the events stored');
  browser = await launchChromium();
  page = await newConsolePage(browser, UI_TIMEOUT);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
});

describe('the events and overview pages in Chromium', () => {
  it('counts the events sent in the histogram, zooms into a bar on a click, and opens an event with its attributes', async () => {
    await page.goto(daemon.apiUrl(`/ui/events?from=${iso(T - 30_000)}&to=${iso(T + 30_000)}`));
    const totals = page.getByTestId('histogram-totals');
    await expect.poll(() => totals.textContent()).toBe('fatal 2error 3warn 2info 1');
    await expect.poll(() => page.locator('tr.event-row').count()).toBe(SENT.length);
    await expectAccessible(page, 'the events page');
    await screenshot(page, 'events');

    // The bar of T is in the middle of the minute shown.
    const over = page.locator('.u-over');
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2 + 2, box.y + box.height - 5);
    await page.mouse.click(box.x + box.width / 2 + 2, box.y + box.height - 5);
    await page.waitForURL((url) => url.searchParams.get('from') === iso(T));
    expect(new URL(page.url()).searchParams.get('to')).toBe(iso(T + 1000));
    await expect.poll(() => totals.textContent()).toBe('fatal 2error 3warn 2info 1');

    // Filtered to a service and a least severity: the counts follow.
    await page.getByLabel('Service').fill('billing');
    await page.getByLabel('Severity at least').selectOption('error');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => totals.textContent()).toBe('error 3');
    await expect.poll(() => page.locator('tr.event-row').count()).toBe(3);

    const first = page.locator('tr.event-row').first();
    const title = (await first.locator('td').nth(3).textContent())!;
    await first.getByRole('button', { name: `Show the attributes of ${title}` }).click();
    const detail = page.locator('tr.event-detail');
    await expect.poll(() => detail.textContent()).toContain('billing');
    expect(await detail.locator('dt').allTextContents()).toEqual(expect.arrayContaining(['id', 'time', 'tenant']));
    await expectAccessible(page, 'an event opened');
  });

  it('keeps every filter changed before the page renders again', async () => {
    await page.goto(daemon.apiUrl(`/ui/events?from=${iso(T - 30_000)}&to=${iso(T + 30_000)}`));
    const totals = page.getByTestId('histogram-totals');
    await expect.poll(() => totals.textContent()).toBe('fatal 2error 3warn 2info 1');
    // A service typed and a severity chosen in one task, with no render between them, as a loaded
    // machine may leave them: the second change must not put the first field back.
    await page.evaluate(() => {
      type Field = { value: string; dispatchEvent(event: unknown): boolean };
      const g = globalThis as unknown as {
        document: {
          querySelectorAll(selector: string): ArrayLike<{
            textContent: string | null;
            querySelector(selector: string): Field | null;
          }>;
        };
        Event: new (type: string, init: { bubbles: boolean }) => unknown;
      };
      const field = (name: string) =>
        Array.from(g.document.querySelectorAll('form[role="search"] label'))
          .find((l) => l.textContent?.startsWith(name))!
          .querySelector('input, select')!;
      const service = field('Service');
      service.value = 'billing';
      service.dispatchEvent(new g.Event('input', { bubbles: true }));
      const severity = field('Severity at least');
      severity.value = 'error';
      severity.dispatchEvent(new g.Event('change', { bubbles: true }));
    });
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => totals.textContent()).toBe('error 3');
    expect(new URL(page.url()).searchParams.get('service')).toBe('billing');
  });

  it('shows the open incidents and the figures of the range on the overview', async () => {
    await page.goto(daemon.apiUrl('/ui/overview?last=1h'));
    await expect.poll(() => page.getByTestId('open-total').textContent()).toBe('2 open incidents');
    await expect.poll(() => page.getByTestId('histogram-totals').textContent()).toBe('fatal 2error 3warn 2info 1');
    const table = (caption: string) => page.locator('table', { has: page.locator('caption', { hasText: caption }) });
    await expect
      .poll(() => table('Events per minute by source').locator('tbody td').first().textContent())
      .toBe('json');
    expect(await table('Noisiest assets').locator('tbody tr').first().textContent()).toBe('db-15');
    // Pipeline health, from the daemon's own metrics: what the JSON receiver took, ClickHouse got.
    const row = (caption: string, id: string) =>
      table(caption).locator('tbody tr', { has: page.locator('td', { hasText: new RegExp(`^${id}$`) }) });
    await expect
      .poll(() => row('Receivers', 'json').locator('td').allTextContents())
      .toEqual(['json', String(SENT.length), '0', '0']);
    expect(await row('Pipeline queues', 'logs').locator('td').nth(1).textContent()).toMatch(/^\d+ of \d+ \(\d+ %\)$/);
    const clickhouse = await row('Exporters', 'clickhouse').locator('td').allTextContents();
    expect(Number(clickhouse[1])).toBeGreaterThanOrEqual(SENT.length);
    expect(clickhouse[2]).toBe('0');
    await expectAccessible(page, 'the overview');
    await screenshot(page, 'overview', { fullPage: true });
  });

  it("charts the events of an incident's asset on its page, and names the other incidents of that asset", async () => {
    await page.goto(daemon.apiUrl('/ui/'));
    await page.locator('tr.row', { hasText: 'web-1 unreachable' }).locator('td.title a').click();
    await page.getByRole('heading', { name: 'Events of asset web-1 around it' }).waitFor();
    await expect.poll(() => page.getByTestId('histogram-totals').textContent()).toBe('fatal 1info 1');
    await page.getByRole('heading', { name: 'Related incidents' }).waitFor();
    expect(await page.textContent('main')).toContain('None on the same asset or on its child assets.');
    await expectAccessible(page, 'an incident page with its events');
    await page.getByRole('link', { name: 'Open these events' }).click();
    await expect.poll(() => page.locator('tr.event-row').count()).toBe(2);
  });
});
