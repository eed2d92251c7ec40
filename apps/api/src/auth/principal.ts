import type { Caller } from '@gureum/contracts';

/**
 * Roles an API key can carry. `operator` is platform-wide (no tenant); the others are roles
 * within one tenant. Users and sessions (a later issue) will carry the same roles, so this
 * list is shared by every kind of principal.
 */
export const API_KEY_ROLES = ['operator', 'owner', 'member', 'viewer'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];
export type TenantRole = Caller['role'];

/** Who is calling, as established by authentication. */
export interface Principal {
  /** The API key id or the user id. Never a secret. */
  principalId: string;
  kind: 'api_key' | 'user';
  tenantId: string | null;
  role: ApiKeyRole;
}

/** A principal acting inside a tenant: what every tenant route works with. */
export interface TenantPrincipal extends Principal {
  tenantId: string;
  role: TenantRole;
}

export function isTenantPrincipal(principal: Principal): principal is TenantPrincipal {
  return principal.role !== 'operator' && principal.tenantId !== null;
}
