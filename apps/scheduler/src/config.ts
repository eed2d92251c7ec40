import { env, loadConfig } from '@gureum/runtime';
import { z } from 'zod';
import type { QuotaAmounts } from '@gureum/contracts';
import type { PlacementSettings } from './placement/placement';
import { DEFAULT_CREATE_BATCH_GATHER_MS } from './workloads/create-batcher';

const ratio = (fallback: number) => z.coerce.number().positive().max(1000).default(fallback);
const nonNegativeInt = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

/**
 * A tenant's compute quotas without an operator override: no larger than one typical host
 * (32 cores, 32 GiB, 32768 processes — the kernel's classic `pid_max`), so one tenant cannot by
 * default claim more than a host holds; 200 workloads, 20 VMs. Each is a setting
 * (`GUREUM_QUOTA_DEFAULT_*`); an operator raises a tenant's own with `PUT /v1/admin/tenants/{id}/quotas`.
 */
export const DEFAULT_QUOTAS: QuotaAmounts = { cpuMillis: 32_000, memoryMiB: 32_768, pids: 32_768, workloads: 200, vms: 20 };
const weight = (fallback: number) => z.coerce.number().min(0).max(1000).default(fallback);

/** Environment of the scheduler service; every bad variable is reported at once. */
export const SchedulerEnvSchema = z.object({
  GUREUM_DATABASE_URL: env.url(['postgres', 'postgresql']),
  GUREUM_NATS_URL: env.url(['nats', 'tls']),
  GUREUM_NATS_USER: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_NATS_PASSWORD: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_LOG_LEVEL: env.logLevel(),
  GUREUM_HEARTBEAT_INTERVAL_MS: env.positiveInt(2000),
  GUREUM_HOST_LOST_AFTER_MISSED: env.positiveInt(3),
  /** How long a silent (`unreachable`) host keeps its workloads before it is `lost` and they are re-placed; 0: at once. */
  GUREUM_SCHEDULER_DISCONNECT_GRACE_MS: nonNegativeInt(60_000),
  GUREUM_MIGRATION_RECOVERY_AFTER_MS: env.positiveInt(900_000),
  // --- placement and quotas ---
  GUREUM_CPU_ALLOCATION_RATIO: ratio(4),
  GUREUM_MEMORY_ALLOCATION_RATIO: ratio(1),
  GUREUM_PIDS_ALLOCATION_RATIO: ratio(1),
  GUREUM_RESERVED_CPU_MILLIS: nonNegativeInt(0),
  GUREUM_RESERVED_MEMORY_MIB: nonNegativeInt(0),
  GUREUM_RESERVED_PIDS: nonNegativeInt(0),
  GUREUM_PLACEMENT_POLICY: z.enum(['binpack', 'spread']).default('binpack'),
  GUREUM_PLACEMENT_WEIGHT_CPU: weight(1),
  GUREUM_PLACEMENT_WEIGHT_MEMORY: weight(1),
  GUREUM_PLACEMENT_HOST_INDEX_MS: nonNegativeInt(500),
  /** `i/n`: this is replica i (0-based) of n, and prefers its nth of the fleet (placement.ts, `PlacementShard`); unset: no preference. */
  GUREUM_PLACEMENT_SHARD: z
    .string()
    .regex(/^\d{1,4}\/\d{1,4}$/, 'must be i/n, e.g. 0/3')
    .transform((value) => {
      const [index, count] = value.split('/').map(Number) as [number, number];
      return { index, count };
    })
    .refine(({ index, count }) => count >= 1 && index < count, 'must be i/n with 0 <= i < n')
    .optional(),
  /** How long after a create batch ends the next one may wait to gather more (ms); 0: no wait. */
  GUREUM_CREATE_BATCH_GATHER_MS: z.coerce.number().int().min(0).max(1000).default(DEFAULT_CREATE_BATCH_GATHER_MS),
  // Defaults of a tenant without an operator override: no larger than one typical host (DEFAULT_QUOTAS).
  GUREUM_QUOTA_DEFAULT_CPU_MILLIS: nonNegativeInt(DEFAULT_QUOTAS.cpuMillis),
  GUREUM_QUOTA_DEFAULT_MEMORY_MIB: nonNegativeInt(DEFAULT_QUOTAS.memoryMiB),
  GUREUM_QUOTA_DEFAULT_PIDS: nonNegativeInt(DEFAULT_QUOTAS.pids),
  GUREUM_QUOTA_DEFAULT_WORKLOADS: nonNegativeInt(DEFAULT_QUOTAS.workloads),
  GUREUM_QUOTA_DEFAULT_VMS: nonNegativeInt(DEFAULT_QUOTAS.vms),
  /** Agent enrolment (all three or none): static users, the file nats-server includes, its pid file. */
  GUREUM_NATS_AUTH_BASE_FILE: z.string().min(1).optional(),
  GUREUM_NATS_AUTH_FILE: z.string().min(1).optional(),
  GUREUM_NATS_PID_FILE: z.string().min(1).optional(),
  GUREUM_NATS_MONITOR_URL: env.url(['http', 'https']).optional(),
  /** `host:port` of Gureum's registry as image references name it (e.g. `127.0.0.1:5000`); unset: no registry pulls. */
  GUREUM_REGISTRY_ADDRESS: z
    .string()
    .regex(/^[a-z0-9.-]+(:[0-9]{1,5})?$/, 'must be host[:port]')
    .optional(),
});

export interface SchedulerConfig {
  databaseUrl: string;
  nats: { url: string; user: string; password: string };
  logLevel: z.output<typeof SchedulerEnvSchema>['GUREUM_LOG_LEVEL'];
  /** How often agents heartbeat; also the host monitor's sweep interval. */
  heartbeatIntervalMs: number;
  /** A host missing this many heartbeats in a row is unreachable (its workloads `unknown`, kept in place). */
  hostLostAfterMissed: number;
  /** How long an unreachable host stays so before it is lost and its restartable workloads are re-placed (default 60 s). */
  disconnectGraceMs?: number;
  /** A VM migration claim older than this is from a crashed scheduler and is recovered. */
  migrationRecoveryAfterMs?: number;
  /** Retry interval of the placement loop (default 1 s). */
  placementRetryIntervalMs?: number;
  /** Allocation ratios, reservations and scoring; defaults in `DEFAULT_PLACEMENT_SETTINGS`. */
  placement?: PlacementSettings;
  /** How old a replica's in-memory picture of the fleet may get (ms) before a create reloads it; 0 ranks in SQL. Default 500. */
  hostIndexRefreshMs?: number;
  /** How long a create batch that follows another waits for more creates (ms, 0: none). Default `DEFAULT_CREATE_BATCH_GATHER_MS`. */
  createBatchGatherMs?: number;
  /** Compute quotas of a tenant without an operator override; defaults in `DEFAULT_QUOTAS`. */
  defaultQuotas?: QuotaAmounts;
  /** Agent enrolment through nats-server's authorization file; off when absent. */
  natsAuth?: { baseFile: string; authFile: string; pidFile: string; monitorUrl?: string };
  /** Gureum's registry (`host:port`): agents get pull tokens for images there. */
  registryAddress?: string | null;
}

/** Nomad's `disconnect.lost_after` analogue; the agent fences itself after the same window (`GUREUM_AGENT_FENCE_AFTER_MS`). */
export const DEFAULT_DISCONNECT_GRACE_MS = 60_000;

export function loadSchedulerConfig(environment: NodeJS.ProcessEnv = process.env): SchedulerConfig {
  const vars = loadConfig(SchedulerEnvSchema, environment);
  return {
    databaseUrl: vars.GUREUM_DATABASE_URL,
    nats: { url: vars.GUREUM_NATS_URL, user: vars.GUREUM_NATS_USER, password: vars.GUREUM_NATS_PASSWORD },
    logLevel: vars.GUREUM_LOG_LEVEL,
    heartbeatIntervalMs: vars.GUREUM_HEARTBEAT_INTERVAL_MS,
    hostLostAfterMissed: vars.GUREUM_HOST_LOST_AFTER_MISSED,
    disconnectGraceMs: vars.GUREUM_SCHEDULER_DISCONNECT_GRACE_MS,
    migrationRecoveryAfterMs: vars.GUREUM_MIGRATION_RECOVERY_AFTER_MS,
    placement: {
      allocationRatios: { cpuMillis: vars.GUREUM_CPU_ALLOCATION_RATIO, memoryMiB: vars.GUREUM_MEMORY_ALLOCATION_RATIO, pids: vars.GUREUM_PIDS_ALLOCATION_RATIO },
      reserved: { cpuMillis: vars.GUREUM_RESERVED_CPU_MILLIS, memoryMiB: vars.GUREUM_RESERVED_MEMORY_MIB, pids: vars.GUREUM_RESERVED_PIDS },
      policy: vars.GUREUM_PLACEMENT_POLICY,
      weights: { cpu: vars.GUREUM_PLACEMENT_WEIGHT_CPU, memory: vars.GUREUM_PLACEMENT_WEIGHT_MEMORY },
      shard: vars.GUREUM_PLACEMENT_SHARD ?? null,
    },
    hostIndexRefreshMs: vars.GUREUM_PLACEMENT_HOST_INDEX_MS,
    createBatchGatherMs: vars.GUREUM_CREATE_BATCH_GATHER_MS,
    defaultQuotas: {
      cpuMillis: vars.GUREUM_QUOTA_DEFAULT_CPU_MILLIS,
      memoryMiB: vars.GUREUM_QUOTA_DEFAULT_MEMORY_MIB,
      pids: vars.GUREUM_QUOTA_DEFAULT_PIDS,
      workloads: vars.GUREUM_QUOTA_DEFAULT_WORKLOADS,
      vms: vars.GUREUM_QUOTA_DEFAULT_VMS,
    },
    ...(vars.GUREUM_NATS_AUTH_BASE_FILE && vars.GUREUM_NATS_AUTH_FILE && vars.GUREUM_NATS_PID_FILE
      ? {
          natsAuth: {
            baseFile: vars.GUREUM_NATS_AUTH_BASE_FILE,
            authFile: vars.GUREUM_NATS_AUTH_FILE,
            pidFile: vars.GUREUM_NATS_PID_FILE,
            ...(vars.GUREUM_NATS_MONITOR_URL ? { monitorUrl: vars.GUREUM_NATS_MONITOR_URL } : {}),
          },
        }
      : {}),
    registryAddress: vars.GUREUM_REGISTRY_ADDRESS ?? null,
  };
}

/** `migrate.js` only needs the database. */
export const MigrateEnvSchema = SchedulerEnvSchema.pick({ GUREUM_DATABASE_URL: true, GUREUM_LOG_LEVEL: true });
