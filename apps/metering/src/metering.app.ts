import { NestFactory } from '@nestjs/core';
import { Transport, type NatsOptions } from '@nestjs/microservices';
import { EVENTS_STREAM, USAGE_STREAM } from '@gureum/contracts';
import { connectNats, ensureEventsStream, nestNatsOptions, RpcErrorFilter, type NatsConnection } from '@gureum/messaging';
import { createLogger, PinoNestLogger, type Logger } from '@gureum/runtime';
import type { MeteringConfig } from './config';
import { assertSchemaUpToDate, createMeteringDataSource } from './database/metering-data-source';
import { SCHEMA } from './database/sql';
import { BatchConsumer } from './ingestion/batch-consumer';
import { DEFAULT_PLACEMENT_POLICY, IngestSamplesUseCase, USAGE_SUBJECT_PATTERN, type AcceptedSample } from './ingestion/ingest-samples.usecase';
import { ensureUsageStream } from './ingestion/usage-stream';
import { RecordLifecycleUseCase } from './lifecycle/record-lifecycle.usecase';
import { MeteringModule } from './metering.module';
import { RecordRegistryStorageUseCase, REGISTRY_STORAGE_SUBJECT } from './registry/record-registry-storage.usecase';
import { floorToHour } from './rollups/hour-split';

export interface MeteringApp {
  readonly logger: Logger;
  /** Stops consuming, finishes the batch in hand, then closes NATS and the database. Idempotent. */
  close(): Promise<void>;
  /** Drops every connection at once, mid-batch: what a crash looks like from outside. For tests. */
  kill(): Promise<void>;
}

export interface MeteringAppOptions {
  logger?: Logger;
}

/** Boots metering: database, NATS, both streams, the three durable consumers (samples, lifecycle, registry storage), the query handler, housekeeping. */
export async function createMeteringApp(config: MeteringConfig, options: MeteringAppOptions = {}): Promise<MeteringApp> {
  const logger = options.logger ?? createLogger('metering', config.logLevel);
  const natsSettings = { url: config.nats.url, user: config.nats.user, password: config.nats.password, name: 'metering' };
  const cleanup: Array<() => Promise<void>> = [];
  const hardStops: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const step of cleanup.splice(0).reverse()) {
      await step().catch((error: unknown) => logger.error({ err: error }, 'error while shutting down'));
    }
  };

  try {
    const dataSource = createMeteringDataSource(config.databaseUrl);
    await dataSource.initialize();
    cleanup.push(() => dataSource.destroy());
    hardStops.push(() => dataSource.destroy());
    await assertSchemaUpToDate(dataSource);

    const nc: NatsConnection = await connectNats(natsSettings);
    cleanup.push(() => nc.drain());
    hardStops.push(() => nc.close());
    await ensureUsageStream(nc);
    await ensureEventsStream(nc);

    const ingestSamples = new IngestSamplesUseCase(dataSource, logger, config.retentionMs, config.writers ?? 1, () => new Date(), config.placement ?? DEFAULT_PLACEMENT_POLICY);
    const recordLifecycle = new RecordLifecycleUseCase(dataSource, logger);
    const recordRegistryStorage = new RecordRegistryStorageUseCase(dataSource, logger, config.retentionMs);
    const batching = { maxBatch: config.batchSize, maxWaitMs: config.batchMs, ackWaitMs: config.ackWaitMs };
    const samples = new BatchConsumer<AcceptedSample | null>(nc, { stream: USAGE_STREAM, durable: 'metering-usage', filterSubject: USAGE_SUBJECT_PATTERN, ...batching }, (b, prepared) => ingestSamples.execute(b, prepared), logger, (m) => ingestSamples.prepare(m));
    const lifecycle = new BatchConsumer(
      nc,
      { stream: EVENTS_STREAM, durable: 'metering-lifecycle', filterSubject: 'evt.workload.state.v1', ...batching },
      (b) => recordLifecycle.execute(b),
      logger,
    );
    const registryStorage = new BatchConsumer(
      nc,
      { stream: EVENTS_STREAM, durable: 'metering-registry-storage', filterSubject: REGISTRY_STORAGE_SUBJECT, ...batching },
      (b) => recordRegistryStorage.execute(b),
      logger,
    );

    const app = await NestFactory.createMicroservice<NatsOptions>(MeteringModule.register(dataSource), {
      transport: Transport.NATS,
      options: nestNatsOptions(natsSettings, 'metering'),
      logger: new PinoNestLogger(logger),
    });
    app.useGlobalFilters(new RpcErrorFilter(logger));
    cleanup.push(() => app.close());
    await app.listen();
    await app.unwrap<NatsConnection>().flush();
    hardStops.push(() => app.unwrap<NatsConnection>().close());

    // Samples last: a backlog of them keeps the event loop busy with large batches, and the
    // other consumers' JetStream API calls (add/update) must not time out behind it.
    await lifecycle.start();
    cleanup.push(() => lifecycle.stop());
    await registryStorage.start();
    cleanup.push(() => registryStorage.stop());
    await samples.start();
    cleanup.push(() => samples.stop());

    let housekeeping: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      housekeeping = housekeeping.then(async () => {
        try {
          await recordLifecycle.rollForwardOpenIntervals();
          await recordRegistryStorage.rollForward();
          const cutoff = floorToHour(new Date(Date.now() - config.retentionMs));
          await dataSource.query(`DELETE FROM "${SCHEMA}"."samples" WHERE sampled_at < $1`, [cutoff]);
          await recordRegistryStorage.purge(cutoff);
        } catch (error) {
          logger.warn({ err: error }, 'metering housekeeping failed; retrying at the next interval');
        }
      });
    }, config.housekeepingMs ?? 60_000);
    cleanup.push(async () => {
      clearInterval(timer);
      await housekeeping;
    });
    hardStops.unshift(async () => clearInterval(timer));

    logger.info({ batchSize: config.batchSize, batchMs: config.batchMs, writers: config.writers ?? 1 }, 'metering started');
  } catch (error) {
    await closeAll();
    throw error;
  }

  let closing: Promise<void> | null = null;
  return {
    logger,
    close() {
      closing ??= closeAll().then(() => logger.info('metering stopped'));
      return closing;
    },
    kill() {
      cleanup.splice(0);
      closing ??= Promise.all(hardStops.map((stop) => stop().catch(() => undefined))).then(() => undefined);
      return closing;
    },
  };
}
