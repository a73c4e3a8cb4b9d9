import { RefusedError, VigilError } from '../../errors.ts';
import type { JwtVerifier } from './jwtVerifier.ts';

/** What a caller may do: viewer reads; operator also acknowledges, resolves, comments and silences; admin also manages API keys and reloads rules. */
export type Role = 'viewer' | 'operator' | 'admin';

export const roles: readonly Role[] = ['viewer', 'operator', 'admin'];

/** Who is calling, as an authenticator established it. The tenant comes from here, never from a request body. */
export interface Principal {
  /** `sub` of a token, the name of an API key, or `anonymous`. */
  subject: string;
  role: Role;
  /** Absent when authentication names no tenant (single-tenant installs): the default tenant applies. */
  tenant?: string;
  method: 'jwt' | 'apikey' | 'token' | 'none';
}

/**
 * The authenticator extension every HTTP/gRPC receiver and the operators' API use. It receives
 * the raw `Authorization` header (or gRPC `authorization` metadata) and resolves the caller, or
 * rejects with `AuthenticationError` (HTTP 401 / gRPC UNAUTHENTICATED).
 */
export interface Authenticator {
  readonly id: string;
  authenticate(authorization: string | undefined): Promise<Principal>;
  /**
   * For the console's OIDC sign-in: a verifier of the ID tokens this authenticator's identity
   * provider issues to `clientId` (their `aud`), with its issuer, keys, role and tenant claims.
   * Undefined when the authenticator accepts no JWTs.
   */
  idTokenVerifier?(clientId: string): JwtVerifier | undefined;
}

export class AuthenticationError extends VigilError {
  /** Why, as one word for the `vigil_auth_failures_total` metric: `expired`, `wrong_audience`, `missing`... */
  readonly reason: string;
  constructor(message: string, reason = 'invalid') {
    super('VIGIL_UNAUTHENTICATED', message);
    this.reason = reason;
  }
}

/**
 * The credential could not be checked right now (the identity provider's keys are unreachable):
 * not the caller's fault, so it is retryable (HTTP 503 / gRPC UNAVAILABLE), never a 401.
 */
export class AuthenticationUnavailableError extends RefusedError {
  constructor(message: string) {
    super('VIGIL_AUTH_UNAVAILABLE', message, 'unavailable', 5);
  }
}

/** The caller is known but its role does not allow the action (HTTP 403 / gRPC PERMISSION_DENIED). */
export class ForbiddenError extends VigilError {
  constructor(need: Role, have: Role) {
    super('VIGIL_FORBIDDEN', `this action needs the ${need} role; the caller has ${have}`);
  }
}

export function roleAllows(have: Role, need: Role): boolean {
  return roles.indexOf(have) >= roles.indexOf(need);
}
