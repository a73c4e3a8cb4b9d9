import type { ExtensionFactory } from '../../pipeline/component.ts';
import { lazyModule } from '../../pipeline/lazyModule.ts';
import { authenticatorSchema, type AuthenticatorConfig } from './config.ts';

// Loaded when a config uses it, with jose.
const implementation = lazyModule('the authenticator extension', () => import('./authenticator.ts'));

export const authenticatorExtensionFactory: ExtensionFactory<AuthenticatorConfig> = {
  kind: 'extension',
  type: 'authenticator',
  signals: [],
  provides: ['authenticator'],
  description:
    "Checks `Authorization: Bearer` credentials (JWTs from an identity provider, Vigil API keys) for receivers and the API; gives the caller's role and tenant.",
  configSchema: authenticatorSchema,
  load: implementation.load,
  create(settings, config) {
    return new (implementation.get().AuthenticatorExtension)(settings, config);
  },
};
