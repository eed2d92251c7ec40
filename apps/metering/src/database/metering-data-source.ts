import { assertMigrationsApplied, createServiceDataSource, migrateServiceDatabase } from '@gureum/database';
import type { DataSource } from 'typeorm';
import { InitialSchema1764835200000 } from '../migrations/1764835200000-initial-schema';
import { IoCountersAndRegistryStorage1767319517234 } from '../migrations/1767319517234-io-counters-and-registry-storage';
import { LifecycleHost1796688000000 } from '../migrations/1796688000000-lifecycle-host';
import { SCHEMA } from './sql';

/** In order; a new migration is appended here and nowhere else. */
export const METERING_MIGRATIONS = [InitialSchema1764835200000, IoCountersAndRegistryStorage1767319517234, LifecycleHost1796688000000];

export function createMeteringDataSource(url: string, poolSize = 10): DataSource {
  return createServiceDataSource({ url, schema: SCHEMA, entities: [], migrations: METERING_MIGRATIONS, poolSize, applicationName: 'gureum-metering' });
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export function migrateMeteringDatabase(url: string): Promise<string[]> {
  return migrateServiceDatabase((poolSize) => createMeteringDataSource(url, poolSize), SCHEMA);
}

/** The service never migrates at boot; it refuses to serve an out-of-date schema. */
export function assertSchemaUpToDate(dataSource: DataSource): Promise<void> {
  return assertMigrationsApplied(dataSource, SCHEMA, 'metering');
}
