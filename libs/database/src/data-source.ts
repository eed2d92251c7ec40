import { DataSource, type EntitySchema, type MigrationInterface, type MixedList } from 'typeorm';

// TypeORM takes entity classes as constructors; the constructor's arguments are TypeORM's business.
type EntityTarget = abstract new (...args: never[]) => object;
type MigrationClass = new () => MigrationInterface;

export interface ServiceDataSourceOptions {
  /** postgres:// URL. */
  url: string;
  /** Each service owns one schema; no service reads another's tables. */
  schema: string;
  entities: MixedList<EntityTarget | string | EntitySchema>;
  migrations: MixedList<MigrationClass | string>;
  poolSize?: number;
  applicationName?: string;
}

/**
 * A TypeORM DataSource for one service's schema. `synchronize` is always off: the schema
 * changes only through migrations, which record themselves in `<schema>.migrations`.
 */
export function createServiceDataSource(options: ServiceDataSourceOptions): DataSource {
  if (!/^[a-z][a-z0-9_]{0,62}$/.test(options.schema)) throw new Error(`invalid schema name ${options.schema}`);
  return new DataSource({
    type: 'postgres',
    url: options.url,
    schema: options.schema,
    entities: options.entities,
    migrations: options.migrations,
    migrationsTableName: 'migrations',
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: false,
    applicationName: options.applicationName ?? options.schema,
    // migrate() holds its advisory lock on one connection while TypeORM migrates on another.
    extra: { max: Math.max(2, options.poolSize ?? 10) },
  });
}

/**
 * Runs pending migrations under a PostgreSQL advisory lock, so several replicas starting at
 * once do not race each other.
 */
export async function migrate(dataSource: DataSource, schema: string): Promise<string[]> {
  const lockKey = hashToInt(`gureum.migrations.${schema}`);
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [lockKey]);
    await runner.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [lockKey]).catch(() => undefined);
    await runner.release();
  }
}

function hashToInt(text: string): number {
  let hash = 0;
  for (let i = 0; i < text.length; i += 1) hash = (Math.imul(31, hash) + text.charCodeAt(i)) | 0;
  return hash;
}
