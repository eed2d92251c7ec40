import { AdminWorkloadFiltersSchema } from '@gureum/contracts';
import { z } from 'zod';

/** Query of `GET /v1/admin/workloads`: the contract's filters plus paging. */
export const AdminListWorkloadsQuerySchema = AdminWorkloadFiltersSchema.extend({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().min(1).max(512).optional(),
}).strict();
export type AdminListWorkloadsQuery = z.output<typeof AdminListWorkloadsQuerySchema>;
