import { assertMigrationsApplied, createServiceDataSource, migrateServiceDatabase } from '@gureum/database';
import { OutboxMessage } from '@gureum/messaging';
import type { DataSource } from 'typeorm';
import { InitialSchema1768313658304 } from '../migrations/1768313658304-initial-schema';
import { SCHEMA } from './sql';

/** In order; a new migration is appended here and nowhere else. */
export const BILLING_MIGRATIONS = [InitialSchema1768313658304];

export function createBillingDataSource(url: string, poolSize = 10): DataSource {
  return createServiceDataSource({ url, schema: SCHEMA, entities: [OutboxMessage], migrations: BILLING_MIGRATIONS, poolSize, applicationName: 'gureum-billing' });
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export function migrateBillingDatabase(url: string): Promise<string[]> {
  return migrateServiceDatabase((poolSize) => createBillingDataSource(url, poolSize), SCHEMA);
}

/** The service never migrates at boot; it refuses to serve an out-of-date schema. */
export function assertSchemaUpToDate(dataSource: DataSource): Promise<void> {
  return assertMigrationsApplied(dataSource, SCHEMA, 'billing');
}
