import { assertMigrationsApplied, createServiceDataSource, migrateServiceDatabase } from '@gureum/database';
import { OutboxMessage } from '@gureum/messaging';
import type { DataSource } from 'typeorm';
import { InitialSchema1764288000000 } from '../migrations/1764288000000-initial-schema';
import { TenantIds1766419253871 } from '../migrations/1766419253871-tenant-ids';
import { UploadReservations1796700000000 } from '../migrations/1796700000000-upload-reservations';
import { SCHEMA } from './sql';

/** In order; a new migration is appended here and nowhere else. */
export const REGISTRY_MIGRATIONS = [InitialSchema1764288000000, TenantIds1766419253871, UploadReservations1796700000000];

/**
 * The registry's tables are reached with SQL (row locks, arrays, `ON CONFLICT`), so the
 * only entity is the shared outbox.
 */
export function createRegistryDataSource(url: string, poolSize = 10): DataSource {
  return createServiceDataSource({
    url,
    schema: SCHEMA,
    entities: [OutboxMessage],
    migrations: REGISTRY_MIGRATIONS,
    poolSize,
    applicationName: 'gureum-registry',
  });
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export function migrateRegistryDatabase(url: string): Promise<string[]> {
  return migrateServiceDatabase((poolSize) => createRegistryDataSource(url, poolSize), SCHEMA);
}

/** The service never migrates at boot; it refuses to serve an out-of-date schema. */
export function assertSchemaUpToDate(dataSource: DataSource): Promise<void> {
  return assertMigrationsApplied(dataSource, SCHEMA, 'registry');
}
