import { createServiceDataSource, migrate } from '@gureum/database';
import { OutboxMessage } from '@gureum/messaging';
import type { DataSource } from 'typeorm';
import { InitialSchema1764288000000 } from '../migrations/1764288000000-initial-schema';
import { queryRows, SCHEMA } from './sql';

/** In order; a new migration is appended here and nowhere else. */
export const REGISTRY_MIGRATIONS = [InitialSchema1764288000000];

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

export async function migrateRegistryDatabase(url: string): Promise<string[]> {
  const dataSource = createRegistryDataSource(url, 2);
  await dataSource.initialize();
  try {
    return await migrate(dataSource, SCHEMA);
  } finally {
    await dataSource.destroy();
  }
}

/** The service never migrates at boot; it refuses to serve an out-of-date schema. */
export async function assertSchemaUpToDate(dataSource: DataSource): Promise<void> {
  const [table] = await queryRows<{ exists: boolean }>(dataSource.manager, `SELECT to_regclass($1) IS NOT NULL AS "exists"`, [`${SCHEMA}.migrations`]);
  const applied = table?.exists
    ? new Set((await queryRows<{ name: string }>(dataSource.manager, `SELECT name FROM "${SCHEMA}"."migrations"`)).map((row) => row.name))
    : new Set<string>();
  const pending = dataSource.migrations.map((migration) => migration.name ?? migration.constructor.name).filter((name) => !applied.has(name));
  if (pending.length > 0) throw new Error(`schema "${SCHEMA}" is missing migrations ${pending.join(', ')}: run the registry's migrate.js first`);
}
