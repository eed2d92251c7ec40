import { UsageGranularitySchema, UsageGroupBySchema } from '@gureum/contracts';
import { z } from 'zod';

/** Query of `GET /v1/usage`; the reply is the contract's UsageReplySchema. */
export const UsageQuerySchema = z
  .object({
    from: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }),
    to: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }),
    groupBy: UsageGroupBySchema.default('meter'),
    granularity: UsageGranularitySchema.default('hour'),
  })
  .strict();
export type UsageQuery = z.output<typeof UsageQuerySchema>;

/** Operators: every tenant's usage, or one tenant's. */
export const AdminUsageQuerySchema = UsageQuerySchema.extend({ tenantId: z.uuid({ message: 'must be a tenant id (a UUID)' }).optional() }).strict();
export type AdminUsageQuery = z.output<typeof AdminUsageQuerySchema>;
