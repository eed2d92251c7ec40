import { z } from 'zod';

const filters = {
  action: z.string().min(1).max(100).optional(),
  principalId: z.string().min(1).max(128).optional(),
  result: z.enum(['success', 'failure']).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().regex(/^[0-9]{1,18}$/, 'is not a cursor this API issued').optional(),
};

/** Tenant owners: their own tenant only, so no tenant filter. */
export const TenantAuditQuerySchema = z.object(filters).strict();
export const AdminAuditQuerySchema = z.object({ ...filters, tenantId: z.uuid().optional() }).strict();
export type AuditQuery = z.output<typeof AdminAuditQuerySchema>;

export const AuditEntryViewSchema = z.object({
  id: z.string(),
  at: z.iso.datetime(),
  principalId: z.string().nullable(),
  principalKind: z.string().nullable(),
  role: z.string().nullable(),
  tenantId: z.uuid().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  result: z.enum(['success', 'failure']),
  status: z.number().int(),
  requestId: z.string(),
  sourceAddress: z.string().nullable(),
});
export const AuditPageSchema = z.object({ items: z.array(AuditEntryViewSchema), nextCursor: z.string().nullable() });
