import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Bus, connectNats, type NatsConnection } from '@gureum/messaging';
import { Client } from 'pg';
import pino from 'pino';
import { migrateRegistryDatabase } from '../database/registry-data-source';
import { createRegistryApp, type RegistryApp } from '../registry.app';
import { IdentityStandIn } from './identity-stand-in';

/**
 * The registry booted in-process for an integration test, with an identity stand-in on NATS,
 * a control-plane Bus (as the api or an operator tool would use) and a database connection.
 */
export interface RegistryUnderTest {
  app: RegistryApp;
  url: string;
  storageDir: string;
  identity: IdentityStandIn;
  control: Bus;
  nc: NatsConnection;
  db: Client;
  close(): Promise<void>;
}

export interface RegistryUnderTestOptions {
  databaseUrl: string;
  natsUrl: string;
  control: { user: string; password: string };
  defaultQuotaBytes?: number;
  gcGraceSeconds?: number;
  storageSampleSeconds?: number;
  /** false: the test answers `identity.cmd.tenant.name.v1` itself. */
  identityTenantNames?: boolean;
}

export async function startRegistryUnderTest(options: RegistryUnderTestOptions): Promise<RegistryUnderTest> {
  await migrateRegistryDatabase(options.databaseUrl);
  const storageDir = await mkdtemp(join(tmpdir(), 'gureum-registry-'));
  const nc = await connectNats({ url: options.natsUrl, ...options.control, name: 'test-control' });
  const identity = new IdentityStandIn(nc, { tenantNames: options.identityTenantNames ?? true });
  await identity.start();
  const logger = pino({ level: process.env['GUREUM_TEST_LOG_LEVEL'] ?? 'silent', base: { service: 'registry' } });
  const app = await createRegistryApp(
    {
      databaseUrl: options.databaseUrl,
      nats: { url: options.natsUrl, ...options.control },
      host: '127.0.0.1',
      port: 0,
      storageDir,
      tokenSecret: randomBytes(32).toString('hex'),
      defaultQuotaBytes: options.defaultQuotaBytes ?? 1024 ** 3,
      tokenTtlSeconds: 300,
      gcIntervalSeconds: 3600,
      gcGraceSeconds: options.gcGraceSeconds ?? 3600,
      uploadTtlSeconds: 3600,
      storageSampleSeconds: options.storageSampleSeconds ?? 3600,
      logLevel: 'info',
    },
    { logger },
  );
  const db = new Client({ connectionString: options.databaseUrl });
  await db.connect();
  return {
    app,
    url: app.url,
    storageDir,
    identity,
    control: new Bus(nc, 10_000),
    nc,
    db,
    async close() {
      await app.close();
      await identity.stop();
      await nc.drain();
      await db.end();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}
