/**
 * Virtual machines beyond the plain workload lifecycle: pause/resume, snapshots, the serial
 * console and migration. Tenant commands go to the scheduler (which owns the workload's state
 * and knows its host); the scheduler and the api reach the VM's agent on that agent's own
 * subjects (`agent.<nodeId>.cmd.vm.*`), which the agent serves.
 */
import { z } from 'zod';
import { CallerSchema, OperatorCallerSchema } from './caller';
import { AssignmentSchema, NodeIdSchema } from './agent';
import { WorkloadViewSchema } from './workload';

const WorkloadIdSchema = z.uuid({ message: 'must be a workload id (a UUID)' });

/** Snapshot names: what QEMU accepts as an internal snapshot tag, and safe in a URL path. */
export const SnapshotNameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of [A-Za-z0-9._-]');

export const SnapshotViewSchema = z.object({
  name: SnapshotNameSchema,
  /** true: memory and device state too (restore resumes where it was); false: disk only. */
  withMemory: z.boolean(),
  createdAt: z.iso.datetime({ offset: true }),
  vmStateBytes: z.number().int().nonnegative(),
});
export type SnapshotView = z.infer<typeof SnapshotViewSchema>;
export const SnapshotListSchema = z.object({ items: z.array(SnapshotViewSchema) });
export type SnapshotList = z.infer<typeof SnapshotListSchema>;

/** HTTP body of `POST /v1/workloads/{id}/snapshots`. */
export const CreateSnapshotBodySchema = z
  .object({
    name: SnapshotNameSchema,
    withMemory: z.boolean().default(true),
  })
  .strict();

export const CreateSnapshotRequestSchema = z
  .object({ caller: CallerSchema, workloadId: WorkloadIdSchema, name: SnapshotNameSchema, withMemory: z.boolean().default(true) })
  .strict();
export const SnapshotRefRequestSchema = z.object({ caller: CallerSchema, workloadId: WorkloadIdSchema, name: SnapshotNameSchema }).strict();
export const DeletedSnapshotSchema = z.object({ name: SnapshotNameSchema, deleted: z.literal(true) });

export const MigrationModeSchema = z.enum(['live', 'cold']);
export type MigrationMode = z.infer<typeof MigrationModeSchema>;

/** HTTP body of `POST /v1/admin/workloads/{id}/migrate`. */
export const MigrateWorkloadBodySchema = z
  .object({
    /** Absent: the scheduler picks the best host with the vm driver, the template and room. */
    targetHostId: NodeIdSchema.optional(),
    mode: MigrationModeSchema.default('live'),
  })
  .strict();

export const MigrateWorkloadRequestSchema = z
  .object({
    caller: OperatorCallerSchema,
    workloadId: WorkloadIdSchema,
    targetHostId: NodeIdSchema.optional(),
    mode: MigrationModeSchema.default('live'),
  })
  .strict();

export const MigrationViewSchema = z.object({
  workloadId: z.uuid(),
  mode: MigrationModeSchema,
  sourceHostId: z.string(),
  targetHostId: z.string(),
  status: z.enum(['completed', 'failed', 'cancelled']),
  totalTimeMs: z.number().nullable(),
  downtimeMs: z.number().nullable(),
  transferredBytes: z.number().nullable(),
  error: z.string().nullable(),
  workload: WorkloadViewSchema,
});
export type MigrationView = z.infer<typeof MigrationViewSchema>;

// --- served by the agent on agent.<nodeId>.cmd.vm.* ---------------------------------------

/** Reads the serial console log from `offset` (bytes); at most `maxBytes` come back. */
export const VmConsoleRequestSchema = z
  .object({ workloadId: WorkloadIdSchema, offset: z.number().int().nonnegative().default(0), maxBytes: z.number().int().min(1).max(262_144).default(65_536) })
  .strict();
export const VmConsoleChunkSchema = z.object({
  /** The bytes, base64 (a serial console is not guaranteed to be UTF-8). */
  data: z.string(),
  offset: z.number().int().nonnegative(),
  nextOffset: z.number().int().nonnegative(),
  /** Whether QEMU still runs: a follower stops once this is false and nothing is left. */
  running: z.boolean(),
});
export type VmConsoleChunk = z.infer<typeof VmConsoleChunkSchema>;

/** `boot`: start the guest of a VM that arrived by cold migration (its disk moved, its guest not started). */
export const VmControlRequestSchema = z.object({ workloadId: WorkloadIdSchema, action: z.enum(['pause', 'resume', 'boot']) }).strict();
export const VmControlReplySchema = z.object({ state: z.enum(['created', 'running', 'paused', 'exited']) });

export const VmSnapshotRequestSchema = z
  .object({
    workloadId: WorkloadIdSchema,
    op: z.enum(['create', 'list', 'restore', 'delete']),
    name: SnapshotNameSchema.optional(),
    withMemory: z.boolean().optional(),
  })
  .strict();

/** Destination side: start QEMU waiting for the incoming VM; replies with where to send it. */
export const VmMigratePrepareRequestSchema = z.object({ assignment: AssignmentSchema }).strict();
export const MigrationEndpointSchema = z.object({ host: z.string().min(1).max(255), port: z.number().int().min(1).max(65_535) });
/** Source side: send the VM to the destination and reply when QEMU reports an end. */
export const VmMigrateSendRequestSchema = z
  .object({ workloadId: WorkloadIdSchema, target: MigrationEndpointSchema, mode: z.enum(['live', 'cold']).default('live') })
  .strict();
export const VmMigrationResultSchema = z.object({
  status: z.enum(['completed', 'failed', 'cancelled']),
  totalTimeMs: z.number().nullable(),
  downtimeMs: z.number().nullable(),
  transferredBytes: z.number().nullable(),
  error: z.string().nullable(),
});
/** Destination side after a failed migration: drop the waiting QEMU. */
export const VmMigrateAbortRequestSchema = z.object({ workloadId: WorkloadIdSchema }).strict();
export const VmAckSchema = z.object({ ok: z.literal(true) });
