import { z } from 'zod';
import { OperatorCallerSchema } from './caller';

export const RoleSchema = z.enum(['operator', 'owner', 'member', 'viewer']);
export type Role = z.infer<typeof RoleSchema>;

/** Who a credential belongs to, as the identity owner (the api) vouches for it. */
export const PrincipalSchema = z.object({
  principalId: z.string().min(1).max(128),
  kind: z.enum(['api_key', 'user']),
  /** null for platform operators. */
  tenantId: z.uuid().nullable(),
  tenantName: z.string().nullable(),
  role: RoleSchema,
});
export type Principal = z.infer<typeof PrincipalSchema>;

/**
 * Other services (the registry's token endpoint) never see identity tables: they hand the
 * credential a client presented to the api and get back the principal, or `unauthenticated`.
 */
export const VerifyCredentialsRequestSchema = z
  .object({
    credential: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('apiKey'), apiKey: z.string().min(1).max(512) }).strict(),
      z.object({ kind: z.literal('password'), login: z.string().min(1).max(320), password: z.string().min(1).max(1024) }).strict(),
    ]),
    /** Which door the credential was presented at, for audit and rate limiting. */
    via: z.enum(['registry', 'console', 'cli']),
    sourceAddress: z.string().max(64).optional(),
  })
  .strict();

/**
 * Is the credential a principal came from still good (API key not revoked or expired, user
 * not removed, tenant not suspended or deleted)? Asked by the registry on use of the tokens
 * it minted from that credential, so a revocation ends them within the registry's cache TTL.
 */
export const PrincipalStatusRequestSchema = z
  .object({
    principalId: z.string().min(1).max(128),
    kind: z.enum(['api_key', 'user']),
  })
  .strict();
export const PrincipalStatusSchema = z.object({ active: z.boolean() });

/**
 * `evt.tenant.deleted.v1`: the api deleted a tenant (sent through its outbox after the
 * deletion committed). The registry empties the tenant's namespace on it.
 */
export const TenantDeletedSchema = z
  .object({
    tenantId: z.uuid(),
    /** The name it had; names are reusable, so consumers key on `tenantId`. */
    name: z.string().min(1).max(63),
    deletedAt: z.iso.datetime({ offset: true }),
  })
  .strict();
export type TenantDeleted = z.infer<typeof TenantDeletedSchema>;

/** Operator commands on a whole tenant, served by the scheduler. */
export const TenantSuspensionRequestSchema = z
  .object({
    caller: OperatorCallerSchema,
    tenantId: z.uuid(),
  })
  .strict();
export const TenantSuspensionReplySchema = z.object({
  tenantId: z.uuid(),
  /** Workloads stopped by this suspend, or restarted by this resume. */
  workloadsAffected: z.number().int().min(0),
});
export type TenantSuspensionReply = z.infer<typeof TenantSuspensionReplySchema>;
