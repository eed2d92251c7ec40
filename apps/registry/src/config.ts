import { env, loadConfig } from '@gureum/runtime';
import { z } from 'zod';

/** Environment of the registry service; every bad variable is reported at once. */
export const RegistryEnvSchema = z.object({
  GUREUM_DATABASE_URL: env.url(['postgres', 'postgresql']),
  GUREUM_NATS_URL: env.url(['nats', 'tls']),
  GUREUM_NATS_USER: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_NATS_PASSWORD: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_REGISTRY_HOST: z.string().min(1).default('127.0.0.1'),
  GUREUM_REGISTRY_PORT: env.port(5000),
  GUREUM_REGISTRY_STORAGE_DIR: z.string({ error: 'is required' }).min(1, 'is required').refine((value) => value.startsWith('/'), 'must be an absolute path'),
  GUREUM_REGISTRY_TOKEN_SECRET: z.string({ error: 'is required' }).min(32, 'must be at least 32 characters'),
  GUREUM_REGISTRY_DEFAULT_QUOTA_BYTES: z.coerce.number().int().nonnegative().default(10 * 1024 ** 3),
  GUREUM_REGISTRY_GC_INTERVAL_SECONDS: env.positiveInt(3600),
  GUREUM_REGISTRY_GC_GRACE_SECONDS: z.coerce.number().int().nonnegative().default(3600),
  GUREUM_REGISTRY_UPLOAD_TTL_SECONDS: env.positiveInt(24 * 3600),
  GUREUM_REGISTRY_STORAGE_SAMPLE_SECONDS: env.positiveInt(60),
  GUREUM_LOG_LEVEL: env.logLevel(),
});

export interface RegistryConfig {
  databaseUrl: string;
  nats: { url: string; user: string; password: string };
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  storageDir: string;
  tokenSecret: string;
  defaultQuotaBytes: number;
  tokenTtlSeconds: number;
  gcIntervalSeconds: number;
  gcGraceSeconds: number;
  uploadTtlSeconds: number;
  /** Interval of the per-repository storage samples for metering (`evt.registry.storage.v1`). */
  storageSampleSeconds: number;
  logLevel: z.output<typeof RegistryEnvSchema>['GUREUM_LOG_LEVEL'];
}

export function loadRegistryConfig(environment: NodeJS.ProcessEnv = process.env): RegistryConfig {
  const vars = loadConfig(RegistryEnvSchema, environment);
  return {
    databaseUrl: vars.GUREUM_DATABASE_URL,
    nats: { url: vars.GUREUM_NATS_URL, user: vars.GUREUM_NATS_USER, password: vars.GUREUM_NATS_PASSWORD },
    host: vars.GUREUM_REGISTRY_HOST,
    port: vars.GUREUM_REGISTRY_PORT,
    storageDir: vars.GUREUM_REGISTRY_STORAGE_DIR,
    tokenSecret: vars.GUREUM_REGISTRY_TOKEN_SECRET,
    defaultQuotaBytes: vars.GUREUM_REGISTRY_DEFAULT_QUOTA_BYTES,
    tokenTtlSeconds: 300,
    gcIntervalSeconds: vars.GUREUM_REGISTRY_GC_INTERVAL_SECONDS,
    gcGraceSeconds: vars.GUREUM_REGISTRY_GC_GRACE_SECONDS,
    uploadTtlSeconds: vars.GUREUM_REGISTRY_UPLOAD_TTL_SECONDS,
    storageSampleSeconds: vars.GUREUM_REGISTRY_STORAGE_SAMPLE_SECONDS,
    logLevel: vars.GUREUM_LOG_LEVEL,
  };
}

export const MigrateEnvSchema = RegistryEnvSchema.pick({ GUREUM_DATABASE_URL: true, GUREUM_LOG_LEVEL: true });
