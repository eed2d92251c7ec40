import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { Transport, type NatsOptions } from '@nestjs/microservices';
import { Bus, connectNats, ensureEventsStream, nestNatsOptions, OutboxRelay, RpcErrorFilter, type NatsConnection } from '@gureum/messaging';
import { createLogger, PinoNestLogger, type Logger } from '@gureum/runtime';
import { RequestAuthorizer } from './auth/authorize-request';
import { IssueToken } from './auth/issue-token.usecase';
import { IssueServiceToken } from './auth/service-token';
import { createTokenSigner } from './auth/token';
import { DeleteBlob } from './blobs/delete-blob.usecase';
import { ReadBlob } from './blobs/read-blob.usecase';
import type { RegistryContext } from './common/registry-context';
import type { RegistryConfig } from './config';
import { assertSchemaUpToDate, createRegistryDataSource } from './database/registry-data-source';
import { CollectGarbage } from './gc/collect-garbage.usecase';
import { createRegistryHandler } from './http/registry-http';
import { DeleteManifest } from './manifests/delete-manifest.usecase';
import { ListReferrers } from './manifests/list-referrers.usecase';
import { ListTags } from './manifests/list-tags.usecase';
import { PutManifest } from './manifests/put-manifest.usecase';
import { ReadManifest } from './manifests/read-manifest.usecase';
import { StorageSampler } from './metering/storage-sampler';
import { TenantDeletions } from './metering/tenant-deletions';
import { TenantDirectory, tenantExistsVia } from './metering/tenant-directory';
import { PrincipalCheck, principalActiveVia } from './auth/principal-check';
import { SetStorageQuota } from './quota/set-storage-quota.usecase';
import { RegistryModule } from './registry.module';
import { ListImages } from './repositories/list-images.usecase';
import { SetRepositoryVisibility } from './repositories/set-repository-visibility.usecase';
import { FilesystemBlobStore } from './storage/filesystem-blob-store';
import { Uploads } from './uploads/uploads.service';

export interface RegistryApp {
  readonly logger: Logger;
  /** e.g. `http://127.0.0.1:5000`. */
  readonly url: string;
  readonly collectGarbage: CollectGarbage;
  /** Publishes `evt.registry.storage.v1` (on its timer; exposed so tests and tools can sample now). */
  readonly storageSampler: StorageSampler;
  /** Stops the HTTP server and the NATS handlers, then closes NATS and the database. Idempotent. */
  close(): Promise<void>;
}

export interface RegistryAppOptions {
  logger?: Logger;
  /** Base URL the token realm names; defaults to the Host the client used. */
  publicUrl?: string;
}

/**
 * Boots the registry: database (schema must be migrated), blob storage, NATS with the
 * events stream, the outbox relay and the consumer of tenant deletions, the Nest microservice for its commands, the GC timer
 * and the HTTP server. Used by main.ts and, in-process, by integration tests.
 */
export async function createRegistryApp(config: RegistryConfig, options: RegistryAppOptions = {}): Promise<RegistryApp> {
  const logger = options.logger ?? createLogger('registry', config.logLevel);
  const natsSettings = { url: config.nats.url, user: config.nats.user, password: config.nats.password, name: 'registry' };
  const cleanup: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const step of cleanup.splice(0).reverse()) {
      await step().catch((error: unknown) => logger.error({ err: error }, 'error while shutting down'));
    }
  };

  try {
    const dataSource = createRegistryDataSource(config.databaseUrl);
    await dataSource.initialize();
    cleanup.push(() => dataSource.destroy());
    await assertSchemaUpToDate(dataSource);

    const store = new FilesystemBlobStore(config.storageDir);
    await store.init();

    const nc: NatsConnection = await connectNats(natsSettings);
    cleanup.push(() => nc.drain());
    await ensureEventsStream(nc);
    // Pushes come in bursts (a client pushes many images at once) and each manifest enqueues
    // an event: drained 5 ms after a kick (the default) nearly every push paid a relay
    // transaction of four statements of its own; 50 ms later they leave several per batch.
    const relay = new OutboxRelay(dataSource, nc, logger, { kickDelayMs: 50 });
    relay.start();
    cleanup.push(() => relay.stop());

    const storageSampler = new StorageSampler(dataSource, nc, logger);
    cleanup.push(() => storageSampler.stop());
    const context: RegistryContext = {
      dataSource,
      store,
      relay,
      logger,
      settings: { defaultQuotaBytes: config.defaultQuotaBytes, gcGraceSeconds: config.gcGraceSeconds, uploadTtlSeconds: config.uploadTtlSeconds },
      storageChanged: (namespace) => storageSampler.changed(namespace),
    };
    storageSampler.start(config.storageSampleSeconds);
    // The api's evt.tenant.deleted.v1 empties the deleted tenant's namespace (durable: caught up after a restart).
    const tenantDeletions = new TenantDeletions(nc, dataSource, logger, (namespace) => storageSampler.changed(namespace));
    await tenantDeletions.start();
    cleanup.push(() => tenantDeletions.stop());
    const collectGarbage = new CollectGarbage(context);
    const signer = createTokenSigner(config.tokenSecret, config.tokenTtlSeconds);

    const micro = await NestFactory.createMicroservice<NatsOptions>(
      RegistryModule.register({
        collectGarbage,
        setStorageQuota: new SetStorageQuota(context),
        setRepositoryVisibility: new SetRepositoryVisibility(context),
        listImages: new ListImages(context),
        issueServiceToken: new IssueServiceToken(new Bus(nc, 5000), dataSource, signer, logger),
      }),
      { transport: Transport.NATS, options: nestNatsOptions(natsSettings, 'registry'), logger: new PinoNestLogger(logger) },
    );
    micro.useGlobalFilters(new RpcErrorFilter(logger));
    cleanup.push(() => micro.close());
    await micro.listen();
    await micro.unwrap<NatsConnection>().flush();

    const gcTimer = setInterval(() => {
      collectGarbage.execute().catch((error: unknown) => logger.error({ err: error }, 'scheduled garbage collection failed'));
    }, config.gcIntervalSeconds * 1000);
    gcTimer.unref();
    cleanup.push(async () => clearInterval(gcTimer));

    const server: Server = createServer(
      { requestTimeout: 0, keepAliveTimeout: 30_000 },
      createRegistryHandler({
        authorizer: new RequestAuthorizer(signer, new PrincipalCheck(principalActiveVia(new Bus(nc, 5000)), logger)),
        issueToken: new IssueToken(new Bus(nc, 5000), dataSource, signer, logger),
        tenants: new TenantDirectory(dataSource, tenantExistsVia(new Bus(nc, 5000)), logger),
        readBlob: new ReadBlob(context),
        deleteBlob: new DeleteBlob(context),
        uploads: new Uploads(context),
        putManifest: new PutManifest(context),
        readManifest: new ReadManifest(context),
        deleteManifest: new DeleteManifest(context),
        listTags: new ListTags(context),
        listReferrers: new ListReferrers(context),
        logger,
        ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
      }),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    );
    const address = server.address() as AddressInfo;
    const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    logger.info({ url, storageDir: config.storageDir, defaultQuotaBytes: config.defaultQuotaBytes }, 'registry listening');

    let closing: Promise<void> | null = null;
    return {
      logger,
      url,
      collectGarbage,
      storageSampler,
      close() {
        closing ??= closeAll().then(() => logger.info('registry stopped'));
        return closing;
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
