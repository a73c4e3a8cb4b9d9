import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { postEvents } from '../support/daemon.ts';
import { waitFor } from '../support/waitFor.ts';
import { expectAccessible, screenshot } from './browser.ts';
import { keyedConsole } from './keyedConsole.ts';

// A rack, a switch in it and two hosts behind the switch; another tenant has a switch and a host
// of the same names.
const DOWN = [
  { tenant: 'acme', asset: 'rack-7', title: 'rack-7 power lost' },
  { tenant: 'acme', asset: 'sw-1', parent: 'rack-7', title: 'sw-1 unreachable' },
  { tenant: 'acme', asset: 'host-1', parent: 'sw-1', title: 'host-1 unreachable' },
  { tenant: 'acme', asset: 'host-2', parent: 'sw-1', title: 'host-2 unreachable' },
  { tenant: 'globex', asset: 'sw-1', title: 'globex sw-1 unreachable' },
  { tenant: 'globex', asset: 'host-9', parent: 'sw-1', title: 'host-9 unreachable' },
  { tenant: 'acme', asset: 'db-1', title: 'db-1 disk full' },
];

// Events name their asset's parent in `attributes["parent"]`.
const ui = keyedConsole(
  `
  tick_interval: 50ms
  topology: { parent: 'attributes["parent"]' }
  rules:
    - { kind: pair, name: asset_down, group_by: [tenant, asset] }
`,
  [
    { name: 'acme-ops', role: 'operator', tenant: 'acme' },
    { name: 'globex-ops', role: 'operator', tenant: 'globex' },
  ],
  async ({ daemon, base, keys }) => {
    await postEvents(
      daemon,
      DOWN.map((e) => ({ ...e, type: 'down', severity: 'ERROR' })),
    );
    await waitFor(async () => {
      const res = await fetch(`${base}/api/v1/incidents`, { headers: { authorization: `Bearer ${keys['acme-ops']}` } });
      return ((await res.json()) as { items: unknown[] }).items.length === 5;
    }, "acme's five incidents");
  },
);

async function openIncident(name: string, title: string): Promise<Page> {
  const page = await ui.signedIn(name, 1000);
  await page.locator('tr.row', { hasText: title }).locator('td.title a').click();
  await page.getByRole('heading', { name: 'Related incidents' }).waitFor();
  return page;
}
const relatedOf = (page: Page) => page.getByTestId('related').locator('li');

describe("related incidents by the asset's parent in the console", () => {
  it("lists the incidents open on the asset's parent and those of its children, saying which, within the tenant", async () => {
    const page = await openIncident('acme-ops', 'sw-1 unreachable');
    const facts = page.locator('dl.facts');
    await expect.poll(() => facts.textContent()).toContain('Parent assetrack-7');
    await expect
      .poll(async () => (await relatedOf(page).allTextContents()).sort())
      .toEqual([
        'host-1 unreachable open asset_down child asset: host-1',
        'host-2 unreachable open asset_down child asset: host-2',
        'rack-7 power lost open asset_down parent asset: rack-7',
      ]);
    await expectAccessible(page, 'an incident with incidents on its parent and child assets');
    await page.getByRole('heading', { name: 'Related incidents' }).scrollIntoViewIfNeeded();
    await screenshot(page, 'incident-related');

    // From a child, its parent switch; no child of its own, and rack-7 is no parent of host-1.
    await relatedOf(page).getByRole('link', { name: 'host-1 unreachable' }).click();
    await expect
      .poll(() => relatedOf(page).allTextContents())
      .toEqual(['sw-1 unreachable open asset_down parent asset: sw-1']);
  });

  it("shows another tenant only its own incidents on a switch of the same name and its children's", async () => {
    const page = await openIncident('globex-ops', 'globex sw-1 unreachable');
    await expect
      .poll(() => relatedOf(page).allTextContents())
      .toEqual(['host-9 unreachable open asset_down child asset: host-9']);
    expect(await page.locator('dl.facts').textContent()).not.toContain('Parent asset');
  });

  it('says so when nothing is related, and lists a parent asset with a child of its own', async () => {
    const page = await openIncident('acme-ops', 'db-1 disk full');
    await expect
      .poll(() => page.locator('section', { hasText: 'Related incidents' }).locator('p').textContent())
      .toBe('None on the same asset or on its child assets.');

    await page.goto(`${ui.base}/ui/`);
    await page.locator('tr.row', { hasText: 'rack-7 power lost' }).locator('td.title a').click();
    await expect
      .poll(() => relatedOf(page).allTextContents())
      .toEqual(['sw-1 unreachable open asset_down child asset: sw-1']);
  });
});
