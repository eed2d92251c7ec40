import { NestFactory } from '@nestjs/core';
import type { CustomStrategy } from '@nestjs/microservices';
import { Bus, connectNats, ensureEventsStream, GureumNatsServer, nestNatsOptions, OutboxRelay, RpcErrorFilter, type NatsConnection } from '@gureum/messaging';
import { createLogger, PinoNestLogger, type Logger } from '@gureum/runtime';
import { DEFAULT_DISCONNECT_GRACE_MS, DEFAULT_QUOTAS, type SchedulerConfig } from './config';
import { DEFAULT_PLACEMENT_SETTINGS } from './placement/placement';
import { assertSchemaUpToDate, createSchedulerDataSource } from './database/scheduler-data-source';
import { SyncAgentAuthorizationUseCase } from './hosts/enrolment/sync-agent-authorization.usecase';
import { HostMonitor } from './hosts/host-monitor';
import { PlacementLoop } from './placement/placement-loop';
import { SchedulerModule } from './scheduler.module';
import { DEFAULT_CREATE_BATCH_GATHER_MS } from './workloads/create-batcher';

export interface SchedulerApp {
  readonly logger: Logger;
  /** Stops taking messages, finishes in-flight work, then closes NATS and the database. Idempotent. */
  close(): Promise<void>;
}

export interface SchedulerAppOptions {
  /** Defaults to a pino logger on stdout at `config.logLevel`. */
  logger?: Logger;
}

/**
 * Boots the scheduler: database (schema must be migrated), NATS, the events stream, the
 * outbox relay, the Nest microservice with its handlers, and the background loops. Used by
 * main.ts and, in-process, by integration tests.
 */
export async function createSchedulerApp(config: SchedulerConfig, options: SchedulerAppOptions = {}): Promise<SchedulerApp> {
  const logger = options.logger ?? createLogger('scheduler', config.logLevel);
  const natsSettings = { url: config.nats.url, user: config.nats.user, password: config.nats.password, name: 'scheduler' };
  const cleanup: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const step of cleanup.splice(0).reverse()) {
      await step().catch((error: unknown) => logger.error({ err: error }, 'error while shutting down'));
    }
  };

  try {
    const dataSource = createSchedulerDataSource(config.databaseUrl);
    await dataSource.initialize();
    cleanup.push(() => dataSource.destroy());
    await assertSchemaUpToDate(dataSource);

    const nc: NatsConnection = await connectNats(natsSettings);
    cleanup.push(() => nc.drain());
    await ensureEventsStream(nc);
    // A create batch of up to 128 workloads leaves one event per create (plus heartbeats'
    // and migrations' events): batches of 500, drained 20 ms after a commit, let one relay
    // transaction take a whole create batch's events instead of several. Events still leave
    // after commit. Measured in docs/benchmarks.md (bench:scheduler).
    const relay = new OutboxRelay(dataSource, nc, logger, { batchSize: 500, kickDelayMs: 20 });
    relay.start();
    cleanup.push(() => relay.stop());

    const settings = {
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      hostLostAfterMissed: config.hostLostAfterMissed,
      disconnectGraceMs: config.disconnectGraceMs ?? DEFAULT_DISCONNECT_GRACE_MS,
      ...(config.migrationRecoveryAfterMs !== undefined ? { migrationRecoveryAfterMs: config.migrationRecoveryAfterMs } : {}),
      placementRetryIntervalMs: config.placementRetryIntervalMs ?? 1000,
      placementBatchSize: 50,
      hostIndexRefreshMs: config.hostIndexRefreshMs ?? 500,
      createBatchGatherMs: config.createBatchGatherMs ?? DEFAULT_CREATE_BATCH_GATHER_MS,
      placement: config.placement ?? DEFAULT_PLACEMENT_SETTINGS,
      defaultQuotas: config.defaultQuotas ?? DEFAULT_QUOTAS,
      ...(config.natsAuth ? { natsAuth: config.natsAuth } : {}),
    };
    const app = await NestFactory.createMicroservice<CustomStrategy>(SchedulerModule.register({ dataSource, bus: new Bus(nc), relay, logger, settings, registryAddress: config.registryAddress ?? null }), {
      // Nest's NATS transport without its per-message JSON.parse of the subject (GureumNatsServer).
      strategy: new GureumNatsServer(nestNatsOptions(natsSettings, 'scheduler')),
      logger: new PinoNestLogger(logger),
    });
    app.useGlobalFilters(new RpcErrorFilter(logger));
    cleanup.push(() => app.close());
    await app.listen();
    // listen() resolves once subscriptions are queued; flush so they are live on the server
    // before anyone is told we are up.
    await app.unwrap<NatsConnection>().flush();

    await app.get(SyncAgentAuthorizationUseCase).execute();
    const hostMonitor = app.get(HostMonitor);
    const placementLoop = app.get(PlacementLoop);
    hostMonitor.start();
    cleanup.push(() => hostMonitor.stop());
    placementLoop.start();
    cleanup.push(() => placementLoop.stop());

    logger.info({ heartbeatIntervalMs: settings.heartbeatIntervalMs, hostLostAfterMissed: settings.hostLostAfterMissed, disconnectGraceMs: settings.disconnectGraceMs }, 'scheduler started');
  } catch (error) {
    await closeAll();
    throw error;
  }

  let closing: Promise<void> | null = null;
  return {
    logger,
    close() {
      closing ??= closeAll().then(() => logger.info('scheduler stopped'));
      return closing;
    },
  };
}
