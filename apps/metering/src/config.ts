import { env, loadConfig } from '@gureum/runtime';
import { z } from 'zod';
import type { PlacementPolicy } from './ingestion/ingest-samples.usecase';

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
  /** A usage sample is billed only within this tolerance of its workload's placement on the sending node (clock skew, last readings of a task being moved). */
  GUREUM_METERING_PLACEMENT_SLACK_MS: env.positiveInt(30_000),
  /** A sample whose workload's placement has not arrived yet is redelivered after this long… */
  GUREUM_METERING_PLACEMENT_HOLD_MS: env.positiveInt(5_000),
  /** …at most this many deliveries in all (default 24: ~2 minutes); then it is refused. */
  GUREUM_METERING_PLACEMENT_MAX_DELIVERIES: env.positiveInt(24),
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
  /** See the GUREUM_METERING_PLACEMENT_* variables (DEFAULT_PLACEMENT_POLICY where not given). */
  placement?: PlacementPolicy;
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
    placement: { slackMs: vars.GUREUM_METERING_PLACEMENT_SLACK_MS, holdMs: vars.GUREUM_METERING_PLACEMENT_HOLD_MS, maxDeliveries: vars.GUREUM_METERING_PLACEMENT_MAX_DELIVERIES },
  };
}

/** `migrate.js` only needs the database. */
export const MigrateEnvSchema = MeteringEnvSchema.pick({ GUREUM_DATABASE_URL: true, GUREUM_LOG_LEVEL: true });
