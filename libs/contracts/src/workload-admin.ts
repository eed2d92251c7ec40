import { z } from 'zod';
import { CallerSchema, OperatorCallerSchema } from './caller';
import { WorkloadStateSchema } from './workload';

/**
 * Operator views across tenants (the admin console) and a workload's history. Separate from
 * `workload.ts` so tenant commands keep requiring a tenant caller.
 */

const WorkloadIdSchema = z.uuid({ message: 'must be a workload id (a UUID)' });
const HostIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a host id');

/** Filters of the operators' workload list; every one optional and combined with AND. */
export const AdminWorkloadFiltersSchema = z
  .object({
    tenantId: z.uuid({ message: 'must be a tenant id (a UUID)' }).optional(),
    hostId: HostIdSchema.optional(),
    state: WorkloadStateSchema.optional(),
    /** A string, not the spec's enum: filtering by a kind this build does not run simply finds nothing. */
    kind: z.string().regex(/^[a-z]{1,32}$/, 'must be a workload kind such as "container"').optional(),
  })
  .strict();
export type AdminWorkloadFilters = z.output<typeof AdminWorkloadFiltersSchema>;

export const AdminListWorkloadsRequestSchema = AdminWorkloadFiltersSchema.extend({
  caller: OperatorCallerSchema,
  limit: z.number().int().min(1).max(500).default(50),
  cursor: z.string().max(512).optional(),
  includeDeleted: z.boolean().default(false),
}).strict();

export const AdminWorkloadRefRequestSchema = z.object({ caller: OperatorCallerSchema, workloadId: WorkloadIdSchema }).strict();

/** A tenant asking for the history of one of its own workloads. */
export const WorkloadEventsRequestSchema = z.object({ caller: CallerSchema, workloadId: WorkloadIdSchema }).strict();

/** One state transition, oldest first in a list. `hostId` is where the workload was placed when it happened. */
export const WorkloadEventViewSchema = z.object({
  from: WorkloadStateSchema.nullable(),
  to: WorkloadStateSchema,
  reason: z.string().nullable(),
  at: z.iso.datetime({ offset: true }),
  hostId: z.string().nullable(),
});
export type WorkloadEventView = z.infer<typeof WorkloadEventViewSchema>;

export const WorkloadEventListSchema = z.object({ items: z.array(WorkloadEventViewSchema) });
export type WorkloadEventList = z.infer<typeof WorkloadEventListSchema>;
