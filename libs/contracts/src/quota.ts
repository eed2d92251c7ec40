import { z } from 'zod';
import { CallerSchema, OperatorCallerSchema } from './caller';

/**
 * The compute quotas of a tenant. CPU in millicores, memory in MiB, pids: the sum of the
 * process limits (`resources.pids`) of its live workloads.
 */
export const QUOTA_NAMES = ['cpuMillis', 'memoryMiB', 'pids', 'workloads', 'vms'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

const QuotaAmountsSchema = z.object({
  cpuMillis: z.number().int().nonnegative(),
  memoryMiB: z.number().int().nonnegative(),
  pids: z.number().int().nonnegative(),
  workloads: z.number().int().nonnegative(),
  vms: z.number().int().nonnegative(),
});
export type QuotaAmounts = z.infer<typeof QuotaAmountsSchema>;

/** A tenant's limits (override or default) and what its live workloads hold against them. */
export const QuotaViewSchema = z.object({ limits: QuotaAmountsSchema, used: QuotaAmountsSchema });
export type QuotaView = z.infer<typeof QuotaViewSchema>;

/** PUT body: a number overrides the default for this tenant, null resets it to the default, absent leaves it. */
const MAX_LIMIT = 2 ** 40;
export const QuotaOverridesSchema = z
  .object({
    cpuMillis: z.number().int().min(0).max(MAX_LIMIT).nullable().optional(),
    memoryMiB: z.number().int().min(0).max(MAX_LIMIT).nullable().optional(),
    pids: z.number().int().min(0).max(MAX_LIMIT).nullable().optional(),
    workloads: z.number().int().min(0).max(1_000_000).nullable().optional(),
    vms: z.number().int().min(0).max(1_000_000).nullable().optional(),
  })
  .strict();
export type QuotaOverrides = z.output<typeof QuotaOverridesSchema>;

export const GetOwnQuotaRequestSchema = z.object({ caller: CallerSchema }).strict();
export const GetTenantQuotaRequestSchema = z.object({ caller: OperatorCallerSchema, tenantId: z.uuid() }).strict();
export const SetTenantQuotaRequestSchema = z.object({ caller: OperatorCallerSchema, tenantId: z.uuid(), overrides: QuotaOverridesSchema }).strict();

/** `details` of a `quota_exceeded` error (and the extra members of its problem document). */
export const QuotaExceededDetailsSchema = z.object({
  quota: z.enum(QUOTA_NAMES),
  limit: z.number().int(),
  used: z.number().int(),
  requested: z.number().int(),
});
export type QuotaExceededDetails = z.infer<typeof QuotaExceededDetailsSchema>;

/** Operator: why a workload is (or would now be) placed where it is. */
export const ExplainPlacementRequestSchema = z.object({ caller: OperatorCallerSchema, workloadId: z.uuid() }).strict();

export const PlacementExplanationSchema = z.object({
  workloadId: z.uuid(),
  /** Where the workload is now (null while pending). */
  hostId: z.string().nullable(),
  state: z.string(),
  reason: z.string().nullable(),
  policy: z.enum(['binpack', 'spread']),
  hostsConsidered: z.number().int(),
  /** In the order the filters run; a host appears under the first filter that removed it. */
  filters: z.array(
    z.object({
      filter: z.string(),
      removed: z.array(z.object({ hostId: z.string(), detail: z.string() })),
    }),
  ),
  /**
   * Hosts that passed every filter, best first, as if the workload were placed now by the
   * replica that answered: `preferred` marks the hosts of its shard (`GUREUM_PLACEMENT_SHARD`),
   * which it ranks before every other host.
   */
  scores: z.array(z.object({ hostId: z.string(), score: z.number(), cpu: z.number(), memory: z.number(), preferred: z.literal(true).optional() })),
  /** The host the scheduler would choose now (null when none fits). */
  choice: z.string().nullable(),
});
export type PlacementExplanation = z.infer<typeof PlacementExplanationSchema>;
