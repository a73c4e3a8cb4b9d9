import type { ExtensionFactory } from '../../pipeline/component.ts';
import { AuthenticatorExtension } from './authenticator.ts';
import { authenticatorSchema, type AuthenticatorConfig } from './config.ts';

export const authenticatorExtensionFactory: ExtensionFactory<AuthenticatorConfig> = {
  kind: 'extension',
  type: 'authenticator',
  signals: [],
  provides: ['authenticator'],
  description:
    "Checks `Authorization: Bearer` credentials (JWTs from an identity provider, Vigil API keys) for receivers and the API; gives the caller's role and tenant.",
  configSchema: authenticatorSchema,
  create(settings, config) {
    return new AuthenticatorExtension(settings, config);
  },
};
