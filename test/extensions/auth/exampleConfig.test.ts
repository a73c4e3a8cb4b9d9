import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry } from '../../../src/components.ts';
import { parseConfig } from '../../../src/service/config/load.ts';
import { newSigningKey } from '../../support/fakes/oidcProvider.ts';

describe('config/examples/auth.yaml', () => {
  it('is a valid config whose receivers all use a started authenticator', async () => {
    const pem = join(mkdtempSync(join(tmpdir(), 'vigil-auth-example-')), 'partner-idp.pem');
    writeFileSync(pem, (await newSigningKey('partner')).publicPem);
    const text = readFileSync('config/examples/auth.yaml', 'utf8').replace('/etc/vigil/partner-idp.pem', pem);
    const cfg = parseConfig(text, registry, {});
    expect(Object.keys(cfg.extensions).sort()).toEqual(['authenticator', 'authenticator/partners']);
    expect(cfg.service.extensions).toEqual(['authenticator', 'authenticator/partners']);
    for (const r of Object.values(cfg.receivers))
      expect((r.config as { auth?: { authenticator?: string } }).auth?.authenticator, r.id).toMatch(/^authenticator/);
  });
});
