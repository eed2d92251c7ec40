import { Bus, connectNats, type NatsConnection } from '@gureum/messaging';
import { Client } from 'pg';
import pino from 'pino';
import { migrateMeteringDatabase } from '../database/metering-data-source';
import type { PlacementPolicy } from '../ingestion/ingest-samples.usecase';
import { createMeteringApp, type MeteringApp } from '../metering.app';

export type LogLine = Record<string, unknown> & { level: string; msg: string };

/** Metering booted in-process for an integration test, with a control-plane Bus and a direct database connection. */
export interface MeteringUnderTest {
  app: MeteringApp;
  logs: LogLine[];
  api: Bus;
  db: Client;
  /** Boots a fresh app on the same database and NATS (after close or kill). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface MeteringUnderTestOptions {
  databaseUrl: string;
  natsUrl: string;
  control: { user: string; password: string };
  batchSize?: number;
  /** Concurrent transactions per batch (default 2, as the service's default). */
  writers?: number;
  ackWaitMs?: number;
  /** How samples are checked against placements (default: short holds, so a refusal shows within seconds). */
  placement?: PlacementPolicy;
}

export async function startMeteringUnderTest(options: MeteringUnderTestOptions): Promise<MeteringUnderTest> {
  await migrateMeteringDatabase(options.databaseUrl);
  const logs: LogLine[] = [];
  const echo = process.env['GUREUM_TEST_LOG_LEVEL'] !== undefined;
  const logger = pino(
    { level: process.env['GUREUM_TEST_LOG_LEVEL'] ?? 'debug', base: { service: 'metering' }, formatters: { level: (label) => ({ level: label }) } },
    {
      write(line: string) {
        logs.push(JSON.parse(line) as LogLine);
        if (echo) process.stdout.write(line);
      },
    },
  );
  const boot = () =>
    createMeteringApp(
      {
        databaseUrl: options.databaseUrl,
        nats: { url: options.natsUrl, ...options.control },
        logLevel: 'debug',
        retentionMs: 35 * 24 * 3_600_000,
        batchSize: options.batchSize ?? 500,
        batchMs: 200,
        writers: options.writers ?? 2,
        ackWaitMs: options.ackWaitMs ?? 2000,
        housekeepingMs: 60_000,
        placement: options.placement ?? { slackMs: 30_000, holdMs: 500, maxDeliveries: 12 },
      },
      { logger },
    );
  const nc: NatsConnection = await connectNats({ url: options.natsUrl, ...options.control, name: 'test-api' });
  const db = new Client({ connectionString: options.databaseUrl });
  await db.connect();
  const harness: MeteringUnderTest = {
    app: await boot(),
    logs,
    api: new Bus(nc, 10_000),
    db,
    async restart() {
      harness.app = await boot();
    },
    async close() {
      await harness.app.close();
      await nc.drain();
      await db.end();
    },
  };
  return harness;
}
