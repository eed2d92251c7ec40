import { QuotaOverridesSchema } from '@gureum/contracts';
import { z } from 'zod';

export const TenantQuotaPathSchema = z.object({ id: z.uuid({ message: 'must be a tenant id (a UUID)' }) }).strict();
export type TenantQuotaPath = z.output<typeof TenantQuotaPathSchema>;

export const AdminWorkloadPathSchema = z.object({ id: z.uuid({ message: 'must be a workload id (a UUID)' }) }).strict();
export type AdminWorkloadPath = z.output<typeof AdminWorkloadPathSchema>;

/** PUT body: a number overrides, null resets to the default, an absent key is left as it is. */
export const QuotaOverridesBodySchema = QuotaOverridesSchema;
