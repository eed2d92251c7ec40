import { z } from 'zod';
import { CallerSchema, OperatorCallerSchema } from './caller';

/**
 * Contracts of the registry service. Repository names are `<tenantName>/<repo>[/<more>]`;
 * the first component is the tenant's namespace, which quotas are kept per.
 */

export const RepositoryNameSchema = z
  .string()
  .max(255)
  .regex(/^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)+$/, 'must be <tenant>/<repo> in the OCI name grammar');

export const DigestSchema = z.string().regex(/^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/, 'must be a sha256 or sha512 digest');

/** Operator command: run garbage collection now instead of waiting for the timer. */
export const RunGcRequestSchema = z
  .object({
    /** Override of the configured grace period; 0 collects everything unreferenced. */
    gracePeriodSeconds: z.number().int().nonnegative().optional(),
  })
  .strict();
export const GcReportSchema = z.object({
  manifestsDeleted: z.number().int().nonnegative(),
  linksDeleted: z.number().int().nonnegative(),
  blobsDeleted: z.number().int().nonnegative(),
  uploadsExpired: z.number().int().nonnegative(),
  bytesFreed: z.number().int().nonnegative(),
});
export type GcReport = z.infer<typeof GcReportSchema>;

/** Operator command: set (or with null, reset to the default) a tenant's storage quota. */
export const SetStorageQuotaRequestSchema = z
  .object({
    tenantName: z.string().regex(/^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$/),
    quotaBytes: z.number().int().nonnegative().nullable(),
  })
  .strict();
export const StorageUsageSchema = z.object({
  tenantName: z.string(),
  /** The effective quota (the override, else the configured default). */
  quotaBytes: z.number().int().nonnegative(),
  usedBytes: z.number().int().nonnegative(),
});
export type StorageUsage = z.infer<typeof StorageUsageSchema>;

/** Operator/owner command (authorised by the api): make a repository readable by every tenant, or not. */
export const SetRepositoryVisibilityRequestSchema = z.object({ name: RepositoryNameSchema, public: z.boolean() }).strict();
export const RepositoryVisibilitySchema = z.object({ name: RepositoryNameSchema, public: z.boolean() });

export const ImagePushedSchema = z.object({
  tenantName: z.string(),
  repository: RepositoryNameSchema,
  digest: DigestSchema,
  mediaType: z.string(),
  /** The tag the manifest was pushed by; null for a push by digest. */
  tag: z.string().nullable(),
  size: z.number().int().nonnegative(),
  /** The tenant's stored bytes after the push, for metering. */
  tenantUsedBytes: z.number().int().nonnegative(),
  pushedAt: z.iso.datetime({ offset: true }),
});
export type ImagePushed = z.infer<typeof ImagePushedSchema>;

export const ImageDeletedSchema = z.object({
  tenantName: z.string(),
  repository: RepositoryNameSchema,
  digest: DigestSchema,
  /** Why it went: a client DELETE or garbage collection of an untagged manifest. */
  reason: z.enum(['deleted', 'garbage_collected']),
  deletedAt: z.iso.datetime({ offset: true }),
});
export type ImageDeleted = z.infer<typeof ImageDeletedSchema>;
export type RepositoryVisibility = z.infer<typeof RepositoryVisibilitySchema>;

/**
 * Periodic fact from the registry: bytes stored in one tenant repository at `at` (metering
 * turns a series of these into GiB-hours). `sampleId` is the dedupe id
 * (`<repository>@<at>`), so a re-published sample is counted once.
 */
export const RegistryStorageSampleSchema = z.object({
  sampleId: z.string().min(1).max(512),
  tenantId: z.uuid(),
  tenantName: z.string(),
  repository: RepositoryNameSchema,
  bytes: z.number().int().nonnegative(),
  at: z.iso.datetime({ offset: true }),
});
export type RegistryStorageSample = z.infer<typeof RegistryStorageSampleSchema>;

/**
 * A tenant's images. `GET /v1/images`: the api forwards the tenant caller; the registry answers
 * for the caller's tenant only. `GET /v1/admin/images?tenantId=`: an operator caller names the
 * tenant (additive: a tenant caller cannot name one).
 */
export const ListImagesRequestSchema = z.union([
  z.object({ caller: CallerSchema }).strict(),
  z.object({ caller: OperatorCallerSchema, tenantId: z.uuid() }).strict(),
]);
export type ListImagesRequest = z.infer<typeof ListImagesRequestSchema>;

export const ImageTagEntrySchema = z.object({
  name: z.string(),
  digest: DigestSchema,
  /** The tagged manifest's `artifactType` (else its config media type): tells VM templates from container images. */
  artifactType: z.string().nullable(),
  updatedAt: z.iso.datetime({ offset: true }),
});

export const ImageRepositorySchema = z.object({
  name: RepositoryNameSchema,
  public: z.boolean(),
  /** Stored bytes attributed to this repository (each blob counted once per tenant, so these add up to `storage.usedBytes`). */
  bytes: z.number().int().nonnegative(),
  tags: z.array(ImageTagEntrySchema),
  createdAt: z.iso.datetime({ offset: true }),
});
export type ImageRepository = z.infer<typeof ImageRepositorySchema>;

export const ImageListSchema = z.object({
  items: z.array(ImageRepositorySchema),
  storage: z.object({ usedBytes: z.number().int().nonnegative(), quotaBytes: z.number().int().nonnegative() }),
});
export type ImageList = z.infer<typeof ImageListSchema>;
