import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postSpans, SERVICE_CALLS, STORING_DAEMON } from '../api/traces.ts';
import { postEvents, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/waitFor.ts';
import { expectAccessible, launchChromium, newConsolePage, screenshot } from './browser.ts';

const UI_TIMEOUT = 15_000;
let daemon: RunningDaemon;
let browser: Browser;
let page: Page;
const T = Date.now() - 60_000;

beforeAll(async () => {
  daemon = await startDaemon(STORING_DAEMON);
  await postSpans(daemon, SERVICE_CALLS, T);
  const time = new Date(T).toISOString();
  await postEvents(
    daemon,
    [
      { asset: 'co-1', service: 'checkout', title: 'checkout pods crashing', severity: 'ERROR' },
      { asset: 'pay-db', service: 'payments', title: 'payments db down', severity: 'FATAL' },
      { asset: 'fe-1', service: 'frontend', title: 'frontend 5xx', severity: 'ERROR' },
      { asset: 'cat-1', service: 'catalog', title: 'catalog index stale', severity: 'WARN' },
    ].map((e) => ({ ...e, type: 'down', time })),
  );
  const range = `from=${new Date(T - 600_000).toISOString()}&to=${new Date(T + 600_000).toISOString()}`;
  await waitFor(async () => {
    const res = await fetch(daemon.apiUrl(`/api/v1/services/dependencies?service=checkout&${range}`));
    return ((await res.json()) as { edges?: unknown[] }).edges?.length === 2;
  }, 'the spans stored');
  browser = await launchChromium();
  page = await newConsolePage(browser, UI_TIMEOUT, 900);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
});

async function openIncident(title: string): Promise<void> {
  await page.goto(daemon.apiUrl('/ui/'));
  await page.locator('tr.row', { hasText: title }).locator('td.title a').click();
  await page.getByRole('heading', { name: 'Related by topology' }).waitFor();
}

describe('related incidents by topology in the console', () => {
  it("lists the incidents open on the services an incident's service calls and is called by, from stored traces", async () => {
    await openIncident('checkout pods crashing');
    const related = page.getByTestId('related-topology').locator('li');
    await expect.poll(() => related.count()).toBe(2);
    expect((await related.allTextContents()).sort()).toEqual([
      'frontend 5xx open on frontend, which calls checkout (1 call in traces)',
      'payments db down open on payments, which checkout calls (2 calls in traces)',
    ]);
    await expectAccessible(page, 'an incident with related incidents by topology');
    await page.getByRole('heading', { name: 'Related by topology' }).scrollIntoViewIfNeeded();
    await screenshot(page, 'incident-topology');

    await related.getByRole('link', { name: 'payments db down' }).click();
    await expect
      .poll(() => page.getByTestId('related-topology').locator('li').allTextContents())
      .toEqual(['checkout pods crashing open on checkout, which calls payments (2 calls in traces)']);
  });

  it('says when no open incident is on a linked service, naming the services traces link it to', async () => {
    await openIncident('catalog index stale');
    await expect
      .poll(() => page.locator('section', { hasText: 'Related by topology' }).locator('p').textContent())
      .toBe('None open on the services catalog calls or is called by (search).');
  });
});
