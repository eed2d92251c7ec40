import { z } from 'zod';
import { TenantNameSchema } from './tenant-name';

export const TenantPathSchema = z.object({ id: z.uuid({ message: 'must be a tenant id (a UUID)' }) }).strict();
export type TenantPath = z.output<typeof TenantPathSchema>;

const LoginSchema = z.string().trim().toLowerCase().regex(/^[a-z0-9][a-z0-9._@+-]{1,199}$/, 'must be 2-200 characters: letters, digits and . _ @ + -');
export const PasswordSchema = z.string().min(12, 'must have at least 12 characters').max(1024);

export const CreateTenantBodySchema = z
  .object({
    name: TenantNameSchema,
    /** Optionally, a first owner who logs in with a password (generated and shown once when omitted). */
    owner: z.object({ login: LoginSchema, password: PasswordSchema.optional() }).strict().optional(),
  })
  .strict();
export type CreateTenantBody = z.output<typeof CreateTenantBodySchema>;

export const TenantViewSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  status: z.enum(['active', 'suspended']),
  createdAt: z.iso.datetime(),
});
export type TenantView = z.output<typeof TenantViewSchema>;

export const CreatedTenantSchema = z.object({
  tenant: TenantViewSchema,
  /** The owner API key, shown once. */
  ownerApiKey: z.object({ id: z.uuid(), apiKey: z.string() }),
  ownerUser: z.object({ id: z.uuid(), login: z.string(), initialPassword: z.string().optional() }).optional(),
});

export const TenantPageSchema = z.object({ items: z.array(TenantViewSchema), nextCursor: z.string().nullable() });

export const PageQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().min(1).max(512).optional(),
  })
  .strict();
export type PageQuery = z.output<typeof PageQuerySchema>;

export const TenantSuspensionSchema = TenantViewSchema.extend({ workloadsAffected: z.number().int().min(0) });

export { LoginSchema };
