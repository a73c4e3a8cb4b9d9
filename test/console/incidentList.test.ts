import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineFrom, ev } from '../support/correlation.ts';
import { apiSchema } from '../../src/api/config.ts';
import { ApiServer } from '../../src/api/server.ts';
import { engineDesk, startApi, type RunningApi } from '../api/harness.ts';
import { expectAccessible, launchChromium } from './browser.ts';

const OPEN = 10_000;
const T0 = Date.now() - 3_600_000;

let api: RunningApi;
let browser: Browser;

beforeAll(async () => {
  const engine = engineFrom(`
defaults: { allowed_lateness: 2h, group_wait: 0s, max_open_incidents: 0 }
rules:
  - { kind: pair, name: link_down, group_by: [asset] }
`);
  const events = Array.from({ length: OPEN }, (_, i) =>
    ev(T0 + i * 100, {
      asset: `sw-${String(i).padStart(5, '0')}`,
      type: 'down',
      severityNumber: [9, 13, 17, 21][i % 4],
      title: `sw-${String(i).padStart(5, '0')} link down`,
    }),
  );
  engine.process(events, T0 + OPEN * 100);
  // No authenticator: the console signs in by itself as the anonymous operator.
  api = await startApi({ desk: () => engineDesk(engine, Date.now), anonymousRole: 'operator' });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
});

describe('the incident list with 10,000 open incidents', () => {
  it('lists them all, keeps only the visible rows in the page, and scrolls to the oldest', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(60_000);
    await page.goto(`${api.base}/ui/`);
    await expect.poll(() => page.locator('.count').textContent(), { timeout: 60_000 }).toBe(`${OPEN} incidents`);
    await page.locator('tr.row', { hasText: 'sw-09999 link down' }).waitFor();
    const rows = () => page.locator('tr.row').count();
    expect(await rows()).toBeLessThan(60);

    // Scrolled as a mouse wheel does, 600 px (12 rows) a step for 60 steps, two animation frames
    // each; then straight to the end. At every step the page holds the rows in view, never the
    // list: what keeps a step cheap however many incidents are open.
    const shown = await page.evaluate(async () => {
      const g = globalThis as unknown as {
        document: {
          querySelector(s: string): { scrollTop: number; scrollHeight: number } | null;
          querySelectorAll(s: string): { length: number };
        };
        requestAnimationFrame(f: () => void): number;
      };
      const el = g.document.querySelector('[data-testid="scroller"]')!;
      const counts: number[] = [];
      for (let k = 1; k <= 60; k++) {
        el.scrollTop = k * 600;
        await new Promise<void>((r) => g.requestAnimationFrame(() => g.requestAnimationFrame(r)));
        counts.push(g.document.querySelectorAll('tr.row').length);
      }
      el.scrollTop = el.scrollHeight;
      return counts;
    });
    expect(Math.min(...shown), 'rows in the page at the emptiest step').toBeGreaterThan(0);
    expect(Math.max(...shown), 'rows in the page at the fullest step').toBeLessThan(60);
    await page.locator('tr.row', { hasText: 'sw-00000 link down' }).waitFor();
    expect(await rows()).toBeLessThan(60);
    await expectAccessible(page, 'a long incident list');
  }, 180_000);
});

describe('the live marker', () => {
  it('says reconnecting while the API is away, and live again once it is back, with the list read afresh', async () => {
    const first = await startApi({ desk: () => undefined, anonymousRole: 'operator' });
    const port = first.server.address!.port;
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${first.base}/ui/`);
    const marker = page.getByTestId('live');
    await marker.filter({ hasText: /^live$/ }).waitFor();
    await expect.poll(() => page.locator('.count').textContent()).toBe('0 incidents');

    await first.close();
    await marker.filter({ hasText: 'reconnecting…' }).waitFor();

    // Back on the same port, now with an incident that opened while the console was away.
    const engine = engineFrom(`
rules:
  - { kind: pair, name: link_down, group_by: [asset], allowed_lateness: 1h, group_wait: 0s }
`);
    const t = Date.now();
    engine.process([ev(t, { asset: 'sw-1', type: 'down', severityNumber: 17, title: 'sw-1 link down' })], t);
    const second = new ApiServer({
      config: apiSchema.parse({ endpoint: `127.0.0.1:${port}`, anonymous_role: 'operator' }, 'api', [])!,
      desk: () => engineDesk(engine, Date.now),
    });
    await second.start();
    try {
      await marker.filter({ hasText: /^live$/ }).waitFor();
      await page.locator('tr.row', { hasText: 'sw-1 link down' }).waitFor();
    } finally {
      await second.stop();
    }
  });
});
