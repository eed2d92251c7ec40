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

/**
 * Opens `createDataSource` with a pool of two (the advisory lock holds one connection while
 * TypeORM migrates on the other), applies pending migrations, and closes it. Returns the
 * names applied; empty when up to date.
 */
export async function migrateServiceDatabase(createDataSource: (poolSize: number) => DataSource, schema: string): Promise<string[]> {
  const dataSource = createDataSource(2);
  await dataSource.initialize();
  try {
    return await migrate(dataSource, schema);
  } finally {
    await dataSource.destroy();
  }
}

/**
 * Services never migrate at boot (several replicas, and the schema is a deploy step of its
 * own); they refuse to serve an out-of-date schema instead of failing on the first query.
 */
/**
 * Names of the data source's migrations the database has not applied yet. Read-only (unlike
 * TypeORM's `showMigrations`, which creates the migrations table).
 */
export async function pendingMigrations(dataSource: DataSource, schema: string): Promise<string[]> {
  const [table] = (await dataSource.query(`SELECT to_regclass($1) IS NOT NULL AS "exists"`, [`"${schema}"."migrations"`])) as Array<{ exists: boolean }>;
  const applied = table?.exists
    ? new Set(((await dataSource.query(`SELECT name FROM "${schema}"."migrations"`)) as Array<{ name: string }>).map((row) => row.name))
    : new Set<string>();
  return dataSource.migrations.map((migration) => migration.name ?? migration.constructor.name).filter((name) => !applied.has(name));
}

export async function assertMigrationsApplied(dataSource: DataSource, schema: string, service: string): Promise<void> {
  const pending = await pendingMigrations(dataSource, schema);
  if (pending.length > 0) {
    throw new Error(`schema "${schema}" is missing migrations ${pending.join(', ')}: run the ${service}'s migrate.js first`);
  }
}
