import { type Authenticator, type Principal, type Role } from '../extensions/auth/principal.ts';

/**
 * Who calls: the one place the API asks. With an authenticator (the `auth` extension), it
 * decides from the Authorization header and may refuse (401); without one every request is
 * anonymous with the configured role, and any Authorization header is ignored.
 */
export function principalResolver(
  authenticator: Authenticator | undefined,
  anonymousRole: Role,
): (authorization: string | undefined) => Promise<Principal> {
  if (authenticator) return (authorization) => authenticator.authenticate(authorization);
  const anonymous: Principal = Object.freeze({ subject: 'anonymous', role: anonymousRole, method: 'none' });
  return () => Promise.resolve(anonymous);
}

/** A principal with a tenant sees that tenant's incidents only; one without (single-tenant installs, anonymous) sees every tenant's. */
export function visibleTo(principal: Principal, tenant: string): boolean {
  return principal.tenant === undefined || principal.tenant === tenant;
}
