import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { correlatingConfig, createApiKey, startDaemon, type RunningDaemon } from '../support/daemon.ts';
import { launchChromium, newConsolePage, signIn } from './browser.ts';

// Generous timeouts for a loaded two-core machine.
const UI_TIMEOUT = 15_000;

/** A correlating daemon (see `correlatingConfig`) whose API takes the API keys its authenticator holds. */
function keyedConfig(correlation: string): string {
  const yaml = correlatingConfig(correlation).replace(
    'service:\n',
    'extensions:\n  authenticator:\n    api_keys: {}\nservice:\n  extensions: [authenticator]\n',
  );
  return `${yaml}\napi:\n  endpoint: 127.0.0.1:0\n  auth: { authenticator: authenticator }\n`;
}

export interface KeyedConsole {
  daemon: RunningDaemon;
  /** The API listener's base URL. */
  base: string;
  /** Each key's secret, by name. */
  keys: Record<string, string>;
  browser: Browser;
  /** A page in a context of its own, signed in with the key of this name. */
  signedIn(name: string, height?: number): Promise<Page>;
}

/**
 * For a test file: before its tests, a daemon correlating with `correlation` (the block under
 * `correlation:`), an API key made for each of `keys` (`vigil apikey create`), `setup` run, and
 * Chromium; after them, all closed.
 */
export function keyedConsole(
  correlation: string,
  keys: readonly { name: string; role: string; tenant: string }[],
  setup: (c: KeyedConsole) => Promise<void> = async () => undefined,
): KeyedConsole {
  const pages: Page[] = [];
  const c = {
    keys: {},
    async signedIn(name: string, height?: number) {
      const page = await newConsolePage(c.browser, UI_TIMEOUT, height);
      pages.push(page);
      await signIn(page, c.base, c.keys[name]!);
      return page;
    },
  } as KeyedConsole;
  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-console-'));
    const configFile = join(dataDir, 'vigil.yaml');
    const config = keyedConfig(correlation);
    writeFileSync(configFile, config);
    for (const key of keys) c.keys[key.name] = await createApiKey(configFile, dataDir, key);
    c.daemon = await startDaemon(config, { dataDir });
    c.base = c.daemon.apiUrl('');
    await setup(c);
    c.browser = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    for (const p of pages) await p.context().close();
    await c.browser?.close();
    await c.daemon?.stop();
  });
  return c;
}
