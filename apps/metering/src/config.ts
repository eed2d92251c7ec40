import { env, loadConfig } from '@gureum/runtime';
import { z } from 'zod';

/** Environment of the metering service; every bad variable is reported at once. */
export const MeteringEnvSchema = z.object({
  GUREUM_DATABASE_URL: env.url(['postgres', 'postgresql']),
  GUREUM_NATS_URL: env.url(['nats', 'tls']),
  GUREUM_NATS_USER: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_NATS_PASSWORD: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_LOG_LEVEL: env.logLevel(),
  /** Raw samples older than this are deleted (rollups stay). */
  GUREUM_METERING_RETENTION_DAYS: env.positiveInt(35),
  GUREUM_METERING_BATCH_SIZE: env.positiveInt(10_000),
  GUREUM_METERING_BATCH_MS: env.positiveInt(200),
  /** Concurrent transactions (connections) a batch of samples is written with, split by workload. */
  GUREUM_METERING_WRITERS: env.positiveInt(2),
  /** Unacknowledged messages are redelivered after this long. */
  GUREUM_METERING_ACK_WAIT_MS: env.positiveInt(30_000),
});

export interface MeteringConfig {
  databaseUrl: string;
  nats: { url: string; user: string; password: string };
  logLevel: z.output<typeof MeteringEnvSchema>['GUREUM_LOG_LEVEL'];
  retentionMs: number;
  batchSize: number;
  batchMs: number;
  /** See GUREUM_METERING_WRITERS (default 1 where not loaded from the environment). */
  writers?: number;
  ackWaitMs: number;
  /** How often still-running workloads' allocated time is extended and old samples purged (default 60 s). */
  housekeepingMs?: number;
}

export function loadMeteringConfig(environment: NodeJS.ProcessEnv = process.env): MeteringConfig {
  const vars = loadConfig(MeteringEnvSchema, environment);
  return {
    databaseUrl: vars.GUREUM_DATABASE_URL,
    nats: { url: vars.GUREUM_NATS_URL, user: vars.GUREUM_NATS_USER, password: vars.GUREUM_NATS_PASSWORD },
    logLevel: vars.GUREUM_LOG_LEVEL,
    retentionMs: vars.GUREUM_METERING_RETENTION_DAYS * 24 * 3_600_000,
    batchSize: vars.GUREUM_METERING_BATCH_SIZE,
    batchMs: vars.GUREUM_METERING_BATCH_MS,
    writers: vars.GUREUM_METERING_WRITERS,
    ackWaitMs: vars.GUREUM_METERING_ACK_WAIT_MS,
  };
}

/** `migrate.js` only needs the database. */
export const MigrateEnvSchema = MeteringEnvSchema.pick({ GUREUM_DATABASE_URL: true, GUREUM_LOG_LEVEL: true });
