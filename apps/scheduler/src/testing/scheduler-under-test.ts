import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { EVENTS_STREAM, WorkloadStateChangedSchema, type Caller, type QuotaAmounts, type WorkloadStateChanged } from '@gureum/contracts';
import { Bus, connectNats, type NatsConnection } from '@gureum/messaging';
import { Client } from 'pg';
import pino from 'pino';
import { migrateSchedulerDatabase } from '../database/scheduler-data-source';
import type { PlacementSettings } from '../placement/placement';
import { createSchedulerApp, type SchedulerApp } from '../scheduler.app';

/**
 * The scheduler booted in-process for an integration test, with what the test drives it by:
 * a control-plane Bus (as the api would use), and a direct database connection to check the
 * rows the scheduler wrote. Holds no test-harness dependency, so it may live in src.
 */
export interface SchedulerUnderTest {
  app: SchedulerApp;
  /** Every log line the service wrote, parsed, so tests can check what it reported. */
  logs: Array<Record<string, unknown> & { level: string; msg: string }>;
  /** Connected as the control user, like the api. */
  api: Bus;
  db: Client;
  close(): Promise<void>;
}

export interface SchedulerUnderTestOptions {
  databaseUrl: string;
  natsUrl: string;
  control: { user: string; password: string };
  heartbeatIntervalMs?: number;
  hostLostAfterMissed?: number;
  /** Default 0 here (lost one sweep after unreachable), so tests of loss do not wait a minute. */
  disconnectGraceMs?: number;
  migrationRecoveryAfterMs?: number;
  placementRetryIntervalMs?: number;
  placement?: PlacementSettings;
  defaultQuotas?: QuotaAmounts;
  /** Skip migrating (another instance on the same database already did). */
  skipMigrations?: boolean;
  natsAuth?: { baseFile: string; authFile: string; pidFile: string; monitorUrl?: string };
}

export async function startSchedulerUnderTest(options: SchedulerUnderTestOptions): Promise<SchedulerUnderTest> {
  if (!options.skipMigrations) await migrateSchedulerDatabase(options.databaseUrl);
  const logs: SchedulerUnderTest['logs'] = [];
  const echo = process.env['GUREUM_TEST_LOG_LEVEL'] !== undefined;
  // Same shape as the service's own logger, written to memory (and echoed when asked).
  const logger = pino(
    { level: process.env['GUREUM_TEST_LOG_LEVEL'] ?? 'debug', base: { service: 'scheduler' }, formatters: { level: (label) => ({ level: label }) } },
    {
      write(line: string) {
        logs.push(JSON.parse(line) as SchedulerUnderTest['logs'][number]);
        if (echo) process.stdout.write(line);
      },
    },
  );
  const app = await createSchedulerApp(
    {
      databaseUrl: options.databaseUrl,
      nats: { url: options.natsUrl, ...options.control },
      logLevel: 'info',
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
      hostLostAfterMissed: options.hostLostAfterMissed ?? 5,
      disconnectGraceMs: options.disconnectGraceMs ?? 0,
      ...(options.migrationRecoveryAfterMs !== undefined ? { migrationRecoveryAfterMs: options.migrationRecoveryAfterMs } : {}),
      placementRetryIntervalMs: options.placementRetryIntervalMs ?? 1000,
      ...(options.placement ? { placement: options.placement } : {}),
      ...(options.defaultQuotas ? { defaultQuotas: options.defaultQuotas } : {}),
      ...(options.natsAuth ? { natsAuth: options.natsAuth } : {}),
    },
    { logger },
  );
  const nc: NatsConnection = await connectNats({ url: options.natsUrl, ...options.control, name: 'test-api' });
  const db = new Client({ connectionString: options.databaseUrl });
  await db.connect();
  return {
    app,
    logs,
    api: new Bus(nc, 10_000),
    db,
    async close() {
      await app.close();
      await nc.drain();
      await db.end();
    },
  };
}

export function callerOf(tenantId: string, role: Caller['role'] = 'member'): Caller {
  return { principalId: `key-${tenantId.slice(0, 8)}`, tenantId, role, requestId: randomUUID() };
}

/** Every `evt.workload.state.v1` fact on the events stream so far, read with an ordered consumer. */
export async function readStateEvents(nc: NatsConnection): Promise<WorkloadStateChanged[]> {
  const consumer = await jetstream(nc).consumers.get(EVENTS_STREAM);
  const events: WorkloadStateChanged[] = [];
  for (;;) {
    const message = await consumer.next({ expires: 1000 });
    if (!message) break;
    if (message.subject === 'evt.workload.state.v1') events.push(WorkloadStateChangedSchema.parse(message.json()));
    if (message.info.pending === 0) break;
  }
  return events;
}
