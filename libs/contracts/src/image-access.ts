import { z } from 'zod';
import { CallerSchema } from './caller';
import { RepositoryNameSchema } from './registry';

/**
 * Contracts of the image paths between services: short-lived, repository-scoped registry
 * tokens the scheduler hands to agents (never long-lived credentials), and tenant-name
 * lookups. Repository names are `<tenantName>/<repo>`; the tenant owns its namespace.
 */

/** `host:port` as image references name our registry, e.g. `127.0.0.1:5000`. */
export const RegistryAddressSchema = z.string().regex(/^[a-z0-9.-]+(:[0-9]{1,5})?$/, 'must be host[:port]');

/**
 * Scheduler → registry: a token for one repository of one tenant. The registry resolves
 * the tenant's name itself and grants pull only where the tenant owns the repository or it
 * is public, push only in the tenant's own namespace.
 */
export const RegistryServiceTokenRequestSchema = z
  .object({
    tenantId: z.uuid(),
    repository: RepositoryNameSchema,
  })
  .strict();

export const RegistryServiceTokenSchema = z.object({
  token: z.string().min(1),
  expiresAt: z.iso.datetime({ offset: true }),
  /** What the token grants on `repository`. */
  actions: z.array(z.enum(['pull', 'push'])),
});
export type RegistryServiceToken = z.infer<typeof RegistryServiceTokenSchema>;

/** What an agent presents to the registry to pull (or push) one repository. */
export const RegistryAuthSchema = z.object({
  registry: RegistryAddressSchema,
  token: z.string().min(1).max(8192),
});
export type RegistryAuth = z.infer<typeof RegistryAuthSchema>;

/** Served by the api (owner of tenants): a tenant id → its name (its registry namespace). */
export const TenantNameRequestSchema = z.object({ tenantId: z.uuid() }).strict();
export const TenantNameSchema = z.object({ tenantId: z.uuid(), tenantName: z.string() });

/** An image tag, as the OCI distribution spec allows it. */
export const ImageTagSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be a tag: letters, digits, "_", "." and "-", at most 128');

/** `POST /v1/workloads/{id}/commit` body. */
export const CommitWorkloadBodySchema = z
  .object({
    /** `<tenant>/<name>`: the tenant's own namespace only. */
    repository: RepositoryNameSchema,
    tag: ImageTagSchema,
  })
  .strict();
export type CommitWorkloadBody = z.infer<typeof CommitWorkloadBodySchema>;

/** api → scheduler (which knows the workload's host). */
export const CommitWorkloadRequestSchema = z
  .object({
    caller: CallerSchema,
    workloadId: z.uuid(),
    repository: RepositoryNameSchema,
    tag: ImageTagSchema,
  })
  .strict();

export const CommittedImageSchema = z.object({
  /** The pushed reference, `<registry>/<repository>:<tag>`. */
  image: z.string(),
  /** The manifest digest the registry stored. */
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/),
});
export type CommittedImage = z.infer<typeof CommittedImageSchema>;

/** scheduler → agent on the workload's node: commit the container and push it with `pushAuth`. */
export const AgentCommitRequestSchema = z
  .object({
    workloadId: z.uuid(),
    tenantId: z.uuid(),
    /** The full reference to commit to and push, in the registry `pushAuth` is for. */
    image: z.string().max(512),
    pushAuth: RegistryAuthSchema,
  })
  .strict();
