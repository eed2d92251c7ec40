import { z } from 'zod';
import { RegistryAuthSchema } from './image-access';
import { ImageRefSchema, ResourcesSchema, VmOptionsSchema } from './workload';

/** Node ids double as NATS subject tokens and user names, so they are restricted. */
export const NodeIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and "-"');

export const CapacitySchema = z.object({
  cpuMillis: z.number().int().nonnegative(),
  memoryMiB: z.number().int().nonnegative(),
  pids: z.number().int().nonnegative(),
});
export type Capacity = z.infer<typeof CapacitySchema>;

export const DriverReportSchema = z.object({
  driver: z.enum(['docker', 'vm']),
  healthy: z.boolean(),
  detail: z.string().max(1024),
  capacity: CapacitySchema,
  /** Image references present on the node (`repo:tag`). */
  images: z.array(z.string().max(512)).max(10_000),
});

export const HeartbeatSchema = z
  .object({
    nodeId: NodeIdSchema,
    /** New on every agent start, so the scheduler can tell a restart from a network blip. */
    bootId: z.uuid(),
    sentAt: z.iso.datetime({ offset: true }),
    agentVersion: z.string().max(64),
    labels: z.record(z.string().max(63), z.string().max(255)).default({}),
    drivers: z.array(DriverReportSchema).min(1).max(4),
  })
  .strict();
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

export const AssignmentSchema = z.object({
  workloadId: z.uuid(),
  tenantId: z.uuid(),
  /** Bumped on every user `start`; an exited task of the current generation is not restarted. */
  generation: z.number().int().nonnegative(),
  desiredState: z.enum(['running', 'stopped', 'deleted']),
  driver: z.enum(['docker', 'vm']),
  spec: z.object({
    image: ImageRefSchema,
    command: z.array(z.string()).nullable(),
    env: z.record(z.string(), z.string()).nullable(),
    resources: ResourcesSchema,
    /** Present for `driver: 'vm'`: `image` is the template, vCPUs = cpuMillis / 1000. */
    vm: VmOptionsSchema.nullable().optional(),
    /** Containers only: mount the image read-only with a writable tmpfs `/tmp`. */
    readOnlyRootFilesystem: z.boolean().optional(),
  }),
  /**
   * Present when the image lives in Gureum's registry and the task may still need to pull it:
   * a short-lived token for that one repository, read only.
   */
  pullAuth: RegistryAuthSchema.optional(),
});
export type Assignment = z.infer<typeof AssignmentSchema>;

export const AssignmentsRequestSchema = z
  .object({
    nodeId: NodeIdSchema,
    /**
     * Workloads the agent holds a task for that no assignment of its last answer listed. The
     * agent removes such a task only when the reply releases it (below): a list that is
     * momentarily missing a workload is not an instruction. Optional: older agents omit it.
     */
    held: z.array(z.uuid()).max(10_000).optional(),
  })
  .strict();

/**
 * The control plane's word that a held task is no longer wanted on this node: its workload
 * was deleted, is placed on another host, or is not known at all. A held workload that is
 * merely unplaced (between a lost host and its next placement) is never released.
 */
export const ReleasedTaskSchema = z.object({
  workloadId: z.uuid(),
  reason: z.enum(['deleted', 'moved', 'unknown']),
});
export type ReleasedTask = z.infer<typeof ReleasedTaskSchema>;

export const AssignmentsReplySchema = z.object({
  nodeId: NodeIdSchema,
  assignments: z.array(AssignmentSchema),
  /** Answers `held`; absent from older schedulers (then the agent keeps what it holds). */
  released: z.array(ReleasedTaskSchema).max(10_000).optional(),
});
export type AssignmentsReply = z.infer<typeof AssignmentsReplySchema>;

export const ObservedTaskSchema = z.object({
  workloadId: z.uuid(),
  generation: z.number().int().nonnegative(),
  handleId: z.string().max(128).nullable(),
  /** `absent`: the node has no task for this workload (never created, or removed). */
  state: z.enum(['created', 'running', 'paused', 'exited', 'absent', 'error']),
  exitCode: z.number().int().nullable(),
  oomKilled: z.boolean(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  error: z.object({ code: z.string().max(64), message: z.string().max(2048) }).nullable(),
});
export type ObservedTask = z.infer<typeof ObservedTaskSchema>;

export const StatusReportSchema = z
  .object({
    nodeId: NodeIdSchema,
    observed: z.array(ObservedTaskSchema).max(10_000),
  })
  .strict();
export type StatusReport = z.infer<typeof StatusReportSchema>;
export const StatusReportReplySchema = z.object({ applied: z.number().int().nonnegative() });

export const ReconcileNudgeSchema = z.object({ nodeId: NodeIdSchema, reason: z.string().max(256) });
