import { z } from 'zod';
import { CallerSchema, OperatorCallerSchema } from './caller';

/**
 * The JetStream stream that captures agents' usage samples. Agents may not use the JetStream
 * API, so they publish plain core messages on their own subject and the stream (created by
 * metering) captures them; `Nats-Msg-Id` = `sampleId` is deduplicated within its window.
 */
export const USAGE_STREAM = 'GUREUM_USAGE';
export const NATS_MSG_ID_HEADER = 'Nats-Msg-Id';

/** A non-negative integer too large for a JS number (cgroup nanosecond counters), as decimal digits. */
const CounterSchema = z.string().regex(/^(0|[1-9][0-9]{0,29})$/, 'must be a non-negative integer in decimal digits');

/** One reading of one task's cgroup counters, as an agent publishes it. */
export const UsageSampleSchema = z
  .object({
    /** Deterministic per sample (node, workload, handle, sample time): the dedupe key end to end. */
    sampleId: z.string().min(1).max(256),
    nodeId: z.string().min(1).max(63),
    workloadId: z.uuid(),
    tenantId: z.uuid(),
    /** The driver's task handle; a new handle means the counters started again from zero. */
    handleId: z.string().min(1).max(128),
    sampledAt: z.iso.datetime({ offset: true }),
    /** Cumulative CPU time of the task's cgroup, nanoseconds. */
    cpuUsageNs: CounterSchema,
    memoryBytes: z.number().int().min(0),
    memoryPeakBytes: z.number().int().min(0).nullable(),
    pids: z.number().int().min(0).max(2_147_483_647),
    /**
     * Cumulative bytes received/sent on the task's own network interfaces (loopback excluded),
     * and read/written on block devices by its cgroup. Absent or null where the agent cannot
     * measure them for this task (e.g. a task that shares the host's network namespace).
     */
    networkRxBytes: CounterSchema.nullable().optional(),
    networkTxBytes: CounterSchema.nullable().optional(),
    blockReadBytes: CounterSchema.nullable().optional(),
    blockWriteBytes: CounterSchema.nullable().optional(),
  })
  .strict();
export type UsageSample = z.infer<typeof UsageSampleSchema>;

export const UsageGroupBySchema = z.enum(['meter', 'workload']);
export const UsageGranularitySchema = z.enum(['hour', 'day']);

const UsageWindowShape = {
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  groupBy: UsageGroupBySchema.default('meter'),
  granularity: UsageGranularitySchema.default('hour'),
};

/**
 * A tenant caller sees its own usage; an operator sees every tenant's, or one (`tenantId`).
 * `from` is rounded down and `to` up to whole hours (rollups are hourly).
 */
export const UsageQueryRequestSchema = z.union([
  z.object({ caller: CallerSchema, ...UsageWindowShape }).strict(),
  z.object({ caller: OperatorCallerSchema, tenantId: z.uuid().optional(), ...UsageWindowShape }).strict(),
]);

export const UsageRowSchema = z.object({
  /** Start of the hour or (UTC) day. */
  periodStart: z.iso.datetime({ offset: true }),
  tenantId: z.uuid(),
  meter: z.string(),
  unit: z.string(),
  /** Only with groupBy=workload. */
  workloadId: z.uuid().nullable(),
  /** Decimal, as a string: quantities are never floats. */
  quantity: z.string().regex(/^-?[0-9]+(\.[0-9]+)?$/),
});
export type UsageRow = z.infer<typeof UsageRowSchema>;

export const UsageReplySchema = z.object({
  from: z.iso.datetime({ offset: true }),
  to: z.iso.datetime({ offset: true }),
  groupBy: UsageGroupBySchema,
  granularity: UsageGranularitySchema,
  rows: z.array(UsageRowSchema),
});
export type UsageReply = z.infer<typeof UsageReplySchema>;
