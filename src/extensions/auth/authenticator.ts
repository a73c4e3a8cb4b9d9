import { stat } from 'node:fs/promises';
import { Counter, type Registry } from 'prom-client';
import type { CreateSettings, Extension } from '../../pipeline/component.ts';
import { HEALTHY, type ComponentHealth } from '../../pipeline/health.ts';
import { RateLimitedWarn } from '../../telemetry/rateLimitedLog.ts';
import { apiKeysPath, findApiKey, looksLikeApiKey, readKeysFile, type ApiKeyEntry } from './apiKeys.ts';
import type { AuthenticatorConfig, JwtConfig } from './config.ts';
import { JwtVerifier, type JwtVerifierOptions } from './jwtVerifier.ts';
import {
  AuthenticationError,
  AuthenticationUnavailableError,
  type Authenticator,
  type Principal,
} from './principal.ts';

/** The failures and successes counters, shared by every authenticator of a service (one registry). */
function authCounters(registry: Registry): {
  failures: Counter<'authenticator' | 'reason'>;
  successes: Counter<'authenticator' | 'method'>;
} {
  const failures =
    (registry.getSingleMetric('vigil_auth_failures_total') as Counter<'authenticator' | 'reason'> | undefined) ??
    new Counter({
      name: 'vigil_auth_failures_total',
      help: 'Requests an authenticator refused, by reason (missing, expired, wrong_audience, bad_signature, unknown_api_key, revoked_api_key, keys_unavailable...).',
      labelNames: ['authenticator', 'reason'],
      registers: [registry],
    });
  const successes =
    (registry.getSingleMetric('vigil_auth_successes_total') as Counter<'authenticator' | 'method'> | undefined) ??
    new Counter({
      name: 'vigil_auth_successes_total',
      help: 'Requests an authenticator accepted, by credential (jwt, apikey).',
      labelNames: ['authenticator', 'method'],
      registers: [registry],
    });
  return { failures, successes };
}

/** How the keys file looked when it was last read: a change of any of these makes it be read again. */
interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
}

/**
 * The `authenticator` extension: `Authorization: Bearer <credential>`, where the credential is
 * an API key (`vgk_…`, checked against the keys file) or a JWT (verified by JwtVerifier). Every
 * refusal is counted by reason and logged (rate-limited) without the credential.
 */
export class AuthenticatorExtension implements Extension, Authenticator {
  readonly id: string;
  private readonly settings: CreateSettings;
  private readonly jwt: JwtVerifier | undefined;
  private readonly jwtConfig: JwtConfig | undefined;
  private readonly jwtOptions: JwtVerifierOptions;
  private readonly keysFile: string | undefined;
  private keys: readonly ApiKeyEntry[] = [];
  private keysStamp: FileStamp | undefined;
  private keysLoading: Promise<void> | undefined;
  private readonly counters: ReturnType<typeof authCounters>;
  private readonly warn: RateLimitedWarn;
  /** Since when, and why, the identity provider's keys could not be fetched; cleared by the next verified token. */
  private keysDown: { since: number; reason: string } | undefined;

  constructor(settings: CreateSettings, config: AuthenticatorConfig, opts: JwtVerifierOptions = {}) {
    this.id = settings.id;
    this.settings = settings;
    this.jwt = config.jwt ? new JwtVerifier(config.jwt, opts) : undefined;
    this.jwtConfig = config.jwt;
    this.jwtOptions = opts;
    this.keysFile = config.api_keys ? apiKeysPath(settings.dataDir, config.api_keys.file) : undefined;
    this.counters = authCounters(settings.metrics.registry);
    this.warn = new RateLimitedWarn(settings.logger);
  }

  /** A malformed keys file stops the start, with the file named, rather than refusing every key later. */
  async start(): Promise<void> {
    if (this.keysFile) await this.currentKeys();
    this.settings.logger.info({ jwt: this.jwt !== undefined, apiKeys: this.keysFile ?? false }, 'authenticator ready');
  }

  async shutdown(): Promise<void> {}

  /** Degraded, not failing, while tokens cannot be checked: another instance would meet the same provider, and API keys still work. */
  health(): ComponentHealth {
    if (!this.keysDown) return HEALTHY;
    return {
      status: 'degraded',
      reason: `JWTs cannot be checked (${this.keysDown.reason}); callers with tokens get 503 / UNAVAILABLE and retry, API keys still work`,
      since: this.keysDown.since,
    };
  }

  authenticator(): Authenticator {
    return this;
  }

  idTokenVerifier(clientId: string): JwtVerifier | undefined {
    return this.jwtConfig && new JwtVerifier({ ...this.jwtConfig, audience: [clientId] }, this.jwtOptions);
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    let method = 'none';
    try {
      if (!authorization)
        throw new AuthenticationError(
          'missing credentials: send "Authorization: Bearer <token or API key>"',
          'missing',
        );
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
      if (!m)
        throw new AuthenticationError(
          'unsupported Authorization header: send "Authorization: Bearer <token or API key>"',
          'unsupported_scheme',
        );
      const credential = m[1]!;
      method = looksLikeApiKey(credential) ? 'apikey' : 'jwt';
      const principal = method === 'apikey' ? await this.apiKey(credential) : await this.token(credential);
      this.counters.successes.inc({ authenticator: this.id, method });
      if (method === 'jwt') this.keysDown = undefined;
      return principal;
    } catch (err) {
      const reason =
        err instanceof AuthenticationError
          ? err.reason
          : err instanceof AuthenticationUnavailableError
            ? 'keys_unavailable'
            : 'internal';
      if (reason === 'keys_unavailable') this.keysDown ??= { since: Date.now(), reason: (err as Error).message };
      this.counters.failures.inc({ authenticator: this.id, reason });
      // The credential is never logged: only what kind it was and why it failed.
      this.warn.warn({ authenticator: this.id, method, reason }, `authentication failed: ${(err as Error).message}`);
      if (err instanceof AuthenticationError || err instanceof AuthenticationUnavailableError) throw err;
      throw new AuthenticationUnavailableError(`authentication could not be checked: ${(err as Error).message}`);
    }
  }

  private async token(token: string): Promise<Principal> {
    if (!this.jwt)
      throw new AuthenticationError('JWT bearer tokens are not accepted here; use an API key', 'jwt_disabled');
    return this.jwt.verify(token);
  }

  private async apiKey(key: string): Promise<Principal> {
    if (!this.keysFile) throw new AuthenticationError('API keys are not accepted here', 'api_keys_disabled');
    const entry = findApiKey(await this.currentKeys(), key);
    if (!entry) throw new AuthenticationError('unknown API key', 'unknown_api_key');
    if (entry.revoked_at) throw new AuthenticationError(`API key "${entry.name}" was revoked`, 'revoked_api_key');
    return {
      subject: entry.name,
      role: entry.role,
      ...(entry.tenant ? { tenant: entry.tenant } : {}),
      method: 'apikey',
    };
  }

  /**
   * The keys as the file holds them now: a stat per API-key request (microseconds) makes
   * `vigil apikey create` and `revoke` take effect at once, without a restart or a signal.
   */
  private async currentKeys(): Promise<readonly ApiKeyEntry[]> {
    const file = this.keysFile!;
    let now: FileStamp | undefined;
    try {
      const s = await stat(file);
      now = { ino: s.ino, size: s.size, mtimeMs: s.mtimeMs };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const same =
      now &&
      this.keysStamp &&
      now.ino === this.keysStamp.ino &&
      now.size === this.keysStamp.size &&
      now.mtimeMs === this.keysStamp.mtimeMs;
    if (same || (!now && !this.keysStamp)) return this.keys;
    this.keysLoading ??= readKeysFile(file)
      .then((keys) => {
        this.keys = keys;
        this.keysStamp = now;
      })
      .finally(() => (this.keysLoading = undefined));
    await this.keysLoading;
    return this.keys;
  }
}
