import { env, loadConfig } from '@gureum/runtime';
import { z } from 'zod';

/** Environment of the `migrate` and `cli` entry points: they only need the database. */
export const DatabaseEnvSchema = z.object({
  GUREUM_DATABASE_URL: env.url(['postgres', 'postgresql']),
  GUREUM_LOG_LEVEL: env.logLevel(),
});

/** Environment of the HTTP server. */
export const ApiEnvSchema = DatabaseEnvSchema.extend({
  GUREUM_NATS_URL: env.url(['nats', 'tls']),
  GUREUM_NATS_USER: z.string().min(1, 'is required'),
  GUREUM_NATS_PASSWORD: z.string().min(1, 'is required'),
  GUREUM_API_HOST: z.string().min(1).default('127.0.0.1'),
  GUREUM_API_PORT: env.port(8080),
  /** Requests per API key or session: burst, then sustained per second. */
  GUREUM_API_RATE_BURST: z.coerce.number().int().min(1).default(100),
  GUREUM_API_RATE_PER_SECOND: z.coerce.number().positive().default(20),
  /** Failed password attempts per login (every source together) before its checks are slowed: burst, then per minute. */
  GUREUM_LOGIN_RATE_BURST: z.coerce.number().int().min(1).default(20),
  GUREUM_LOGIN_RATE_PER_MINUTE: z.coerce.number().positive().default(20),
  /** Failed credential checks (passwords, API keys) per source address before 429: burst, then per minute. */
  GUREUM_AUTH_SOURCE_FAILURE_BURST: z.coerce.number().int().min(1).default(50),
  GUREUM_AUTH_SOURCE_FAILURES_PER_MINUTE: z.coerce.number().positive().default(10),
  /** How often an open event stream re-checks its credential (revoked keys, logged-out sessions end it). */
  GUREUM_API_STREAM_RECHECK_MS: z.coerce.number().int().min(100).default(5000),
  /** `enforce` when billing runs: workload creates are checked against the hard budget limit, failing closed. */
  GUREUM_API_BILLING_ADMISSION: z.enum(['enforce', 'off']).default('off'),
});

/** What the bootstrap needs, independent of where it came from (env in production, a test harness in tests). */
export interface ApiConfig {
  databaseUrl: string;
  nats: { url: string; user?: string; password?: string };
  host: string;
  /** 0 picks a free port; the chosen URL is returned by the bootstrap. */
  port: number;
  logLevel: string;
  rateLimits?: {
    apiBurst: number;
    apiPerSecond: number;
    loginBurst: number;
    loginPerMinute: number;
    sourceFailureBurst?: number;
    sourceFailuresPerMinute?: number;
  };
  /** How often an open event stream re-checks its credential. */
  streamRecheckMs?: number;
  /** Billing's hard-limit check on workload creates (default off: billing not deployed). */
  billingAdmission?: 'enforce' | 'off';
}

/** Throws ConfigError listing every bad variable. */
export function apiConfigFromEnv(source: NodeJS.ProcessEnv = process.env): ApiConfig {
  const parsed = loadConfig(ApiEnvSchema, source);
  return {
    databaseUrl: parsed.GUREUM_DATABASE_URL,
    nats: { url: parsed.GUREUM_NATS_URL, user: parsed.GUREUM_NATS_USER, password: parsed.GUREUM_NATS_PASSWORD },
    host: parsed.GUREUM_API_HOST,
    port: parsed.GUREUM_API_PORT,
    logLevel: parsed.GUREUM_LOG_LEVEL,
    rateLimits: {
      apiBurst: parsed.GUREUM_API_RATE_BURST,
      apiPerSecond: parsed.GUREUM_API_RATE_PER_SECOND,
      loginBurst: parsed.GUREUM_LOGIN_RATE_BURST,
      loginPerMinute: parsed.GUREUM_LOGIN_RATE_PER_MINUTE,
      sourceFailureBurst: parsed.GUREUM_AUTH_SOURCE_FAILURE_BURST,
      sourceFailuresPerMinute: parsed.GUREUM_AUTH_SOURCE_FAILURES_PER_MINUTE,
    },
    streamRecheckMs: parsed.GUREUM_API_STREAM_RECHECK_MS,
    billingAdmission: parsed.GUREUM_API_BILLING_ADMISSION,
  };
}
