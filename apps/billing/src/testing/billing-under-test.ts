import { Bus, connectNats, type NatsConnection } from '@gureum/messaging';
import { Client } from 'pg';
import pino from 'pino';
import { createBillingApp, type BillingApp, type BillingAppOptions } from '../billing.app';
import { migrateBillingDatabase } from '../database/billing-data-source';
import type { BillingPeriodLength } from '../periods/billing-period';

export type LogLine = Record<string, unknown> & { level: string; msg: string };

/** Billing booted in-process for an integration test, with a control-plane Bus and a direct database connection. */
export interface BillingUnderTest {
  app: BillingApp;
  logs: LogLine[];
  api: Bus;
  db: Client;
  /** Boots a fresh app on the same database and NATS (after close or kill), optionally with other hooks. */
  restart(overrides?: Pick<BillingAppOptions, 'hooks'>): Promise<void>;
  close(): Promise<void>;
}

export interface BillingUnderTestOptions {
  databaseUrl: string;
  natsUrl: string;
  control: { user: string; password: string };
  period?: BillingPeriodLength;
  graceMs?: number;
  clock?: () => Date;
  usage?: BillingAppOptions['usage'];
  hooks?: BillingAppOptions['hooks'];
}

export async function startBillingUnderTest(options: BillingUnderTestOptions): Promise<BillingUnderTest> {
  await migrateBillingDatabase(options.databaseUrl);
  const logs: LogLine[] = [];
  const echo = process.env['GUREUM_TEST_LOG_LEVEL'] !== undefined;
  const logger = pino(
    { level: process.env['GUREUM_TEST_LOG_LEVEL'] ?? 'debug', base: { service: 'billing' }, formatters: { level: (label) => ({ level: label }) } },
    {
      write(line: string) {
        logs.push(JSON.parse(line) as LogLine);
        if (echo) process.stdout.write(line);
      },
    },
  );
  const boot = (hooks = options.hooks) =>
    createBillingApp(
      {
        databaseUrl: options.databaseUrl,
        nats: { url: options.natsUrl, ...options.control },
        logLevel: 'debug',
        period: options.period ?? { kind: 'hours', hours: 1 },
        graceMs: options.graceMs ?? 0,
        runIntervalMs: 3_600_000,
        defaultCurrency: 'USD',
      },
      { logger, runOnTimer: false, ...(options.clock ? { clock: options.clock } : {}), ...(options.usage ? { usage: options.usage } : {}), ...(hooks ? { hooks } : {}) },
    );
  const nc: NatsConnection = await connectNats({ url: options.natsUrl, ...options.control, name: 'test-api' });
  const db = new Client({ connectionString: options.databaseUrl });
  await db.connect();
  const harness: BillingUnderTest = {
    app: await boot(),
    logs,
    api: new Bus(nc, 10_000),
    db,
    async restart(overrides) {
      harness.app = await boot(overrides ? overrides.hooks : options.hooks);
    },
    async close() {
      await harness.app.close();
      await nc.drain();
      await db.end();
    },
  };
  return harness;
}
