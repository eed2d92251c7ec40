import { z } from 'zod';
import { TenantRoleSchema } from '../users/user-http.schemas';

export const ApiKeyPathSchema = z.object({ id: z.uuid({ message: 'must be an API key id (a UUID)' }) }).strict();
export type ApiKeyPath = z.output<typeof ApiKeyPathSchema>;

export const CreateApiKeyBodySchema = z
  .object({
    name: z.string().trim().min(1).max(200),
    role: TenantRoleSchema,
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type CreateApiKeyBody = z.output<typeof CreateApiKeyBodySchema>;

/** Never carries the secret or its hash. */
export const ApiKeyViewSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  role: TenantRoleSchema,
  prefix: z.string(),
  tenantId: z.uuid(),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime().nullable(),
  expiresAt: z.iso.datetime().nullable(),
  revokedAt: z.iso.datetime().nullable(),
});
export type ApiKeyView = z.output<typeof ApiKeyViewSchema>;
export const CreatedApiKeySchema = ApiKeyViewSchema.extend({ apiKey: z.string() });
export const ApiKeyListSchema = z.object({ items: z.array(ApiKeyViewSchema) });
