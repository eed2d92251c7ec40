import { env, loadConfig } from '@gureum/runtime';
import { z } from 'zod';
import { isSupportedCurrency } from './money/money';
import { parseBillingPeriod, type BillingPeriodLength } from './periods/billing-period';

/** Environment of the billing service; every bad variable is reported at once. */
export const BillingEnvSchema = z.object({
  GUREUM_DATABASE_URL: env.url(['postgres', 'postgresql']),
  GUREUM_NATS_URL: env.url(['nats', 'tls']),
  GUREUM_NATS_USER: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_NATS_PASSWORD: z.string({ error: 'is required' }).min(1, 'is required'),
  GUREUM_LOG_LEVEL: env.logLevel(),
  /** Length of a billing period: P1M (default), P<n>D or PT<n>H. */
  GUREUM_BILLING_PERIOD: z
    .string()
    .default('P1M')
    .refine((text) => {
      try {
        parseBillingPeriod(text);
        return true;
      } catch {
        return false;
      }
    }, 'must be P<n>M, P<n>D or PT<n>H'),
  /** Late usage is accepted this long after a period ends; then its invoice is finalised. */
  GUREUM_BILLING_GRACE_SECONDS: env.positiveInt(3 * 24 * 3600),
  /** How often drafts are recomputed, budgets checked and due invoices finalised. */
  GUREUM_BILLING_RUN_INTERVAL_MS: env.positiveInt(60_000),
  /** The currency the operator summary reports in unless asked for another. */
  GUREUM_BILLING_DEFAULT_CURRENCY: z.string().default('USD').refine(isSupportedCurrency, 'must be an ISO 4217 code with at most 2 minor digits'),
});

export interface BillingConfig {
  databaseUrl: string;
  nats: { url: string; user: string; password: string };
  logLevel: z.output<typeof BillingEnvSchema>['GUREUM_LOG_LEVEL'];
  period: BillingPeriodLength;
  graceMs: number;
  runIntervalMs: number;
  defaultCurrency: string;
}

export function loadBillingConfig(environment: NodeJS.ProcessEnv = process.env): BillingConfig {
  const vars = loadConfig(BillingEnvSchema, environment);
  return {
    databaseUrl: vars.GUREUM_DATABASE_URL,
    nats: { url: vars.GUREUM_NATS_URL, user: vars.GUREUM_NATS_USER, password: vars.GUREUM_NATS_PASSWORD },
    logLevel: vars.GUREUM_LOG_LEVEL,
    period: parseBillingPeriod(vars.GUREUM_BILLING_PERIOD),
    graceMs: vars.GUREUM_BILLING_GRACE_SECONDS * 1000,
    runIntervalMs: vars.GUREUM_BILLING_RUN_INTERVAL_MS,
    defaultCurrency: vars.GUREUM_BILLING_DEFAULT_CURRENCY,
  };
}

/** `migrate.js` only needs the database. */
export const MigrateEnvSchema = BillingEnvSchema.pick({ GUREUM_DATABASE_URL: true, GUREUM_LOG_LEVEL: true });
