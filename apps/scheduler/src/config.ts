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
  /** Agent enrolment (all three or none): static users, the file nats-server includes, its pid file. */
  GUREUM_NATS_AUTH_BASE_FILE: z.string().min(1).optional(),
  GUREUM_NATS_AUTH_FILE: z.string().min(1).optional(),
  GUREUM_NATS_PID_FILE: z.string().min(1).optional(),
  GUREUM_NATS_MONITOR_URL: env.url(['http', 'https']).optional(),
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
  /** Agent enrolment through nats-server's authorization file; off when absent. */
  natsAuth?: { baseFile: string; authFile: string; pidFile: string; monitorUrl?: string };
}

export function loadSchedulerConfig(environment: NodeJS.ProcessEnv = process.env): SchedulerConfig {
  const vars = loadConfig(SchedulerEnvSchema, environment);
  return {
    databaseUrl: vars.GUREUM_DATABASE_URL,
    nats: { url: vars.GUREUM_NATS_URL, user: vars.GUREUM_NATS_USER, password: vars.GUREUM_NATS_PASSWORD },
    logLevel: vars.GUREUM_LOG_LEVEL,
    heartbeatIntervalMs: vars.GUREUM_HEARTBEAT_INTERVAL_MS,
    hostLostAfterMissed: vars.GUREUM_HOST_LOST_AFTER_MISSED,
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
  };
}

/** `migrate.js` only needs the database. */
export const MigrateEnvSchema = SchedulerEnvSchema.pick({ GUREUM_DATABASE_URL: true, GUREUM_LOG_LEVEL: true });
