import { z } from 'zod';
import { CallerSchema } from './caller';

/** Workload names: DNS labels, so they can become hostnames and container names. */
export const WorkloadNameSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits and "-", at most 63 characters');

/**
 * An image reference as Docker understands it: `[registry[:port]/]path[:tag][@sha256:digest]`,
 * lowercase path components. Anything else is rejected at the boundary.
 */
export const ImageRefSchema = z
  .string()
  .max(255)
  .regex(
    /^(?:(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/,
    'must be an image reference such as "gureum/busybox:latest"',
  );

export const ResourcesSchema = z
  .object({
    /** CPU in millicores; 1000 = one full core. Enforced as a CFS quota. */
    cpuMillis: z.number().int().min(10).max(1_024_000),
    /** Memory in MiB, no extra swap. Docker refuses less than 6 MiB. */
    memoryMiB: z.number().int().min(6).max(4_194_304),
    /** Maximum number of processes/threads in the workload. */
    pids: z.number().int().min(1).max(4_194_304).default(256),
  })
  .strict();
export type Resources = z.output<typeof ResourcesSchema>;

const EnvSchema = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,255}$/, 'must be a shell variable name'), z.string().max(32_768))
  .refine((env) => Object.keys(env).length <= 128, 'at most 128 variables');

/**
 * A label constraint on the host: `key=value` (the host has that label value), `key!=value`
 * (it has not), `key` (the label exists), `!key` (it does not).
 */
export const PlacementConstraintSchema = z
  .string()
  .max(320)
  .regex(/^!?[a-z0-9][a-z0-9._/-]{0,62}((!=|=)[A-Za-z0-9._-]{0,255})?$/, 'must be "key=value", "key!=value", "key" or "!key"');

/** Optional placement hints; a workload without them runs anywhere it fits. */
export const PlacementHintsSchema = z
  .object({
    constraints: z.array(PlacementConstraintSchema).max(32).optional(),
    /** Members of one affinity group (of the same tenant) run on the same host. */
    affinityGroup: WorkloadNameSchema.optional(),
    /** No two members of one anti-affinity group (of the same tenant) run on the same host. */
    antiAffinityGroup: WorkloadNameSchema.optional(),
    /** Overrides the cluster's scoring policy for this workload. */
    policy: z.enum(['binpack', 'spread']).optional(),
    /** Only on hosts dedicated to the caller's tenant (host label `gureum.io/dedicated=<tenantId>`). */
    dedicated: z.boolean().optional(),
  })
  .strict();
export type PlacementHints = z.output<typeof PlacementHintsSchema>;

export const ContainerWorkloadSpecSchema = z
  .object({
    name: WorkloadNameSchema,
    kind: z.literal('container'),
    image: ImageRefSchema,
    command: z.array(z.string().max(4096)).max(64).optional(),
    env: EnvSchema.optional(),
    resources: ResourcesSchema,
    placement: PlacementHintsSchema.optional(),
    /** 0..1000, default 0. When nothing fits, a workload may preempt lower-priority preemptible ones. */
    priority: z.number().int().min(0).max(1000).optional(),
    /** May be stopped (back to `pending`) to make room for a higher-priority workload. */
    preemptible: z.boolean().optional(),
    /** The image's filesystem mounted read-only; `/tmp` stays writable (a tmpfs of a quarter of memoryMiB, 1..256 MiB). */
    readOnlyRootFilesystem: z.boolean().optional(),
  })
  .strict();
export type ContainerWorkloadSpec = z.output<typeof ContainerWorkloadSpecSchema>;

/** Guest kernel command-line words a tenant may add (the tiny test guest reads `gureum.*`). */
export const KernelArgSchema = z.string().regex(/^[A-Za-z0-9._,:=/-]{1,128}$/, 'must be a kernel command-line word of [A-Za-z0-9._,:=/-]');

/** What only a VM has: its disk (an overlay on the template) and extra kernel arguments. */
export const VmOptionsSchema = z
  .object({
    /** Size of the VM's disk (a qcow2 overlay on the template's disk). */
    diskGiB: z.number().int().min(1).max(2048),
    kernelArgs: z.array(KernelArgSchema).max(16).optional(),
  })
  .strict();
export type VmOptions = z.output<typeof VmOptionsSchema>;

/**
 * A virtual machine. `image` names the VM template (e.g. `tiny`), resolved by the vm driver
 * of the host; `resources.cpuMillis` is whole vCPUs (a multiple of 1000) and `memoryMiB` the
 * guest RAM (the host claim adds the QEMU overhead).
 */
export const VmWorkloadSpecSchema = z
  .object({
    name: WorkloadNameSchema,
    kind: z.literal('vm'),
    image: ImageRefSchema,
    resources: ResourcesSchema.refine((r) => r.cpuMillis % 1000 === 0 && r.cpuMillis <= 64_000, {
      message: 'a VM takes whole vCPUs: cpuMillis must be a multiple of 1000 (at most 64000)',
      path: ['cpuMillis'],
    }).refine((r) => r.memoryMiB >= 64, { message: 'a VM needs at least 64 MiB of memory', path: ['memoryMiB'] }),
    vm: VmOptionsSchema,
    placement: PlacementHintsSchema.optional(),
    priority: z.number().int().min(0).max(1000).optional(),
    preemptible: z.boolean().optional(),
  })
  .strict();
export type VmWorkloadSpec = z.output<typeof VmWorkloadSpecSchema>;

export const WorkloadSpecSchema = z.discriminatedUnion('kind', [ContainerWorkloadSpecSchema, VmWorkloadSpecSchema]);
export type WorkloadSpec = z.output<typeof WorkloadSpecSchema>;
export const WorkloadKindSchema = z.enum(['container', 'vm']);
export type WorkloadKind = z.infer<typeof WorkloadKindSchema>;

export const WORKLOAD_STATES = [
  'pending',
  'scheduled',
  'starting',
  'running',
  'paused',
  'stopping',
  'stopped',
  'migrating',
  'failed',
  /** Its host is unreachable (silent) but within the disconnect grace window: it keeps its placement and probably still runs. */
  'unknown',
  'lost',
  'deleted',
] as const;
export const WorkloadStateSchema = z.enum(WORKLOAD_STATES);
export type WorkloadState = z.infer<typeof WorkloadStateSchema>;

export const DesiredStateSchema = z.enum(['running', 'stopped', 'deleted']);
export type DesiredState = z.infer<typeof DesiredStateSchema>;

export const WorkloadViewSchema = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  name: z.string(),
  kind: WorkloadKindSchema,
  image: z.string(),
  command: z.array(z.string()).nullable(),
  env: z.record(z.string(), z.string()).nullable(),
  resources: ResourcesSchema,
  /** Only for `kind: 'vm'`. */
  vm: VmOptionsSchema.nullable().optional(),
  state: WorkloadStateSchema,
  desiredState: DesiredStateSchema,
  /** Why the workload is in its state (e.g. `oom_killed`, `no host has room`); null when unremarkable. */
  reason: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  hostId: z.string().nullable(),
  generation: z.number().int(),
  placement: PlacementHintsSchema.optional(),
  priority: z.number().int().optional(),
  preemptible: z.boolean().optional(),
  /** Present (true) only for a container with a read-only root filesystem. */
  readOnlyRootFilesystem: z.boolean().optional(),
  createdAt: z.iso.datetime({ offset: true }),
  updatedAt: z.iso.datetime({ offset: true }),
});
export type WorkloadView = z.infer<typeof WorkloadViewSchema>;

const WorkloadIdSchema = z.uuid({ message: 'must be a workload id (a UUID)' });

export const CreateWorkloadRequestSchema = z
  .object({
    caller: CallerSchema,
    /** Client-chosen key: the same key and tenant return the first result instead of a second workload. */
    idempotencyKey: z.string().min(1).max(255).optional(),
    spec: WorkloadSpecSchema,
  })
  .strict();

export const WorkloadRefRequestSchema = z.object({ caller: CallerSchema, workloadId: WorkloadIdSchema }).strict();

export const ListWorkloadsRequestSchema = z
  .object({
    caller: CallerSchema,
    limit: z.number().int().min(1).max(500).default(50),
    cursor: z.string().max(512).optional(),
    includeDeleted: z.boolean().default(false),
  })
  .strict();

export const WorkloadPageSchema = z.object({
  items: z.array(WorkloadViewSchema),
  nextCursor: z.string().nullable(),
});
export type WorkloadPage = z.infer<typeof WorkloadPageSchema>;

/** Fact published (via the outbox) on every state transition. */
export const WorkloadStateChangedSchema = z.object({
  eventId: z.uuid(),
  workloadId: z.uuid(),
  tenantId: z.uuid(),
  hostId: z.string().nullable(),
  from: WorkloadStateSchema.nullable(),
  to: WorkloadStateSchema,
  reason: z.string().nullable(),
  generation: z.number().int(),
  at: z.iso.datetime({ offset: true }),
  /** What the workload was allocated when it entered `to` (metering's allocated-time meters). Optional: older events lack it. */
  resources: ResourcesSchema.optional(),
});
export type WorkloadStateChanged = z.infer<typeof WorkloadStateChangedSchema>;
