import { createServiceDataSource, migrate } from '@gureum/database';
import { OutboxMessage } from '@gureum/messaging';
import type { DataSource } from 'typeorm';
import { HostEntity } from '../hosts/host.entity';
import { InitialSchema1764230400000 } from '../migrations/1764230400000-initial-schema';
import { TenantSuspension1764720000000 } from '../migrations/1764720000000-tenant-suspension';
import { ClaimEntity } from '../placement/claim.entity';
import { WorkloadEventEntity } from '../workloads/workload-event.entity';
import { WorkloadEntity } from '../workloads/workload.entity';
import { queryRows, SCHEMA } from './sql';

/** In order; a new migration is appended here and nowhere else. */
export const SCHEDULER_MIGRATIONS = [InitialSchema1764230400000, TenantSuspension1764720000000];

export function createSchedulerDataSource(url: string, poolSize = 10): DataSource {
  return createServiceDataSource({
    url,
    schema: SCHEMA,
    entities: [HostEntity, WorkloadEntity, WorkloadEventEntity, ClaimEntity, OutboxMessage],
    migrations: SCHEDULER_MIGRATIONS,
    poolSize,
    applicationName: 'gureum-scheduler',
  });
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export async function migrateSchedulerDatabase(url: string): Promise<string[]> {
  // Two connections, not one: `migrate()` holds its advisory lock on one connection while
  // TypeORM runs the migrations on another; with a pool of one it waits for itself forever.
  const dataSource = createSchedulerDataSource(url, 2);
  await dataSource.initialize();
  try {
    return await migrate(dataSource, SCHEMA);
  } finally {
    await dataSource.destroy();
  }
}

/**
 * The service never migrates at boot (several replicas, and the schema is a deploy step of
 * its own); it refuses to serve an out-of-date schema instead of failing on the first query.
 */
export async function assertSchemaUpToDate(dataSource: DataSource): Promise<void> {
  const [table] = await queryRows<{ exists: boolean }>(dataSource.manager, `SELECT to_regclass($1) IS NOT NULL AS "exists"`, [`${SCHEMA}.migrations`]);
  const applied = table?.exists
    ? new Set((await queryRows<{ name: string }>(dataSource.manager, `SELECT name FROM "${SCHEMA}"."migrations"`)).map((row) => row.name))
    : new Set<string>();
  const pending = dataSource.migrations.map((migration) => migration.name ?? migration.constructor.name).filter((name) => !applied.has(name));
  if (pending.length > 0) {
    throw new Error(`schema "${SCHEMA}" is missing migrations ${pending.join(', ')}: run the scheduler's migrate.js first`);
  }
}
