import { env, loadConfig } from '@gureum/runtime';
import { z } from 'zod';

/** Environment of the scheduler service; every bad variable is reported at once. */
export const SchedulerEnvSchema = z.object({
  GUREUM_DATABASE_URL: env.url(['postgres', 'postgresql']),
  GUREUM_NATS_URL: env.url(['nats', 'tls']),
  GUREUM_NATS_USER: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_NATS_PASSWORD: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_LOG_LEVEL: env.logLevel(),
  GUREUM_HEARTBEAT_INTERVAL_MS: env.positiveInt(2000),
  GUREUM_HOST_LOST_AFTER_MISSED: env.positiveInt(3),
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
  /** A host missing this many heartbeats in a row is declared lost. */
  hostLostAfterMissed: number;
  /** Retry interval of the placement loop (default 1 s). */
  placementRetryIntervalMs?: number;
  /** Gureum's registry (`host:port`): agents get pull tokens for images there. */
  registryAddress?: string | null;
}

export function loadSchedulerConfig(environment: NodeJS.ProcessEnv = process.env): SchedulerConfig {
  const vars = loadConfig(SchedulerEnvSchema, environment);
  return {
    databaseUrl: vars.GUREUM_DATABASE_URL,
    nats: { url: vars.GUREUM_NATS_URL, user: vars.GUREUM_NATS_USER, password: vars.GUREUM_NATS_PASSWORD },
    logLevel: vars.GUREUM_LOG_LEVEL,
    heartbeatIntervalMs: vars.GUREUM_HEARTBEAT_INTERVAL_MS,
    hostLostAfterMissed: vars.GUREUM_HOST_LOST_AFTER_MISSED,
    registryAddress: vars.GUREUM_REGISTRY_ADDRESS ?? null,
  };
}

/** `migrate.js` only needs the database. */
export const MigrateEnvSchema = SchedulerEnvSchema.pick({ GUREUM_DATABASE_URL: true, GUREUM_LOG_LEVEL: true });
