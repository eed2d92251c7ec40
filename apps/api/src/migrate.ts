import 'reflect-metadata';
import { migrate } from '@gureum/database';
import { ConfigError, loadConfig } from '@gureum/runtime';
import { DatabaseEnvSchema } from './config/api.config';
import { API_SCHEMA, createApiDataSource } from './database/api-data-source';

/** Applies pending migrations of the `api` schema and prints what it applied. */
async function main(): Promise<void> {
  const config = loadConfig(DatabaseEnvSchema);
  const dataSource = createApiDataSource(config.GUREUM_DATABASE_URL, 'gureum-api-migrate');
  await dataSource.initialize();
  try {
    const applied = await migrate(dataSource, API_SCHEMA);
    process.stdout.write(applied.length === 0 ? 'api: no pending migrations\n' : `api: applied ${applied.join(', ')}\n`);
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `migration failed: ${error instanceof Error ? error.stack : String(error)}`}\n`);
  process.exitCode = error instanceof ConfigError ? 2 : 1;
});
