import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';

/**
 * Debian's Chromium (the `chromium` package), driven headless by playwright-core: no browser
 * download. `CHROMIUM` names another binary.
 */
export function chromiumPath(): string {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  // The real binary, not /usr/bin/chromium's wrapper script, which adds flags of its own.
  for (const p of [
    '/usr/lib/chromium/chromium',
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'chromium')),
  ])
    if (existsSync(p)) return p;
  throw new Error('Chromium is not installed: apt-get install chromium, or set CHROMIUM to its binary');
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, timeout: 60_000 });
}

/** A page in a context of its own, waiting up to `timeout` ms for what it looks for (a loaded two-core machine is slow). */
export async function newConsolePage(browser: Browser, timeout = 15_000, height = 800): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height } });
  context.setDefaultTimeout(timeout);
  return context.newPage();
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core's WCAG 2.x A and AA rules on the page as it stands: no serious or critical violation. */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  // Evaluated over the DevTools protocol: the console's CSP (rightly) refuses an inline script tag.
  type AxeWindow = { axe?: { run(ctx: unknown, o: object): Promise<{ violations: unknown[] }> }; document: unknown };
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const w = globalThis as unknown as AxeWindow;
    const r = await w.axe!.run(w.document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return r.violations;
  });
  const bad = (violations as AxeViolation[]).filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    `accessibility of ${what}`,
  ).toEqual([]);
}

const SHOTS = resolve(import.meta.dirname, '../../docs/console');

/** With VIGIL_CONSOLE_SCREENSHOTS=1, the page as docs/console/<name>.png (for docs/console.md). */
export async function screenshot(page: Page, name: string, opts: { fullPage?: boolean } = {}): Promise<void> {
  if (process.env.VIGIL_CONSOLE_SCREENSHOTS !== '1') return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: opts.fullPage === true });
}

/** Signs in on the console's form with an API key, and waits for the console to show who. */
export async function signIn(page: Page, base: string, key: string): Promise<void> {
  await page.goto(`${base}/ui/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('who').waitFor();
}
