import { createServiceDataSource, migrate } from '@gureum/database';
import type { DataSource } from 'typeorm';
import { InitialSchema1764835200000 } from '../migrations/1764835200000-initial-schema';
import { queryRows, SCHEMA } from './sql';

/** In order; a new migration is appended here and nowhere else. */
export const METERING_MIGRATIONS = [InitialSchema1764835200000];

export function createMeteringDataSource(url: string, poolSize = 10): DataSource {
  return createServiceDataSource({ url, schema: SCHEMA, entities: [], migrations: METERING_MIGRATIONS, poolSize, applicationName: 'gureum-metering' });
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export async function migrateMeteringDatabase(url: string): Promise<string[]> {
  const dataSource = createMeteringDataSource(url, 2);
  await dataSource.initialize();
  try {
    return await migrate(dataSource, SCHEMA);
  } finally {
    await dataSource.destroy();
  }
}

/** The service never migrates at boot; it refuses an out-of-date schema instead. */
export async function assertSchemaUpToDate(dataSource: DataSource): Promise<void> {
  const [table] = await queryRows<{ exists: boolean }>(dataSource.manager, `SELECT to_regclass($1) IS NOT NULL AS "exists"`, [`${SCHEMA}.migrations`]);
  const applied = table?.exists
    ? new Set((await queryRows<{ name: string }>(dataSource.manager, `SELECT name FROM "${SCHEMA}"."migrations"`)).map((row) => row.name))
    : new Set<string>();
  const pending = dataSource.migrations.map((migration) => migration.name ?? migration.constructor.name).filter((name) => !applied.has(name));
  if (pending.length > 0) throw new Error(`schema "${SCHEMA}" is missing migrations ${pending.join(', ')}: run the metering migrate.js first`);
}
