import 'reflect-metadata';
import { ConfigError, createLogger, loadConfig } from '@gureum/runtime';
import { MigrateEnvSchema } from './config';
import { migrateRegistryDatabase } from './database/registry-data-source';

/** Applies the registry's pending migrations and exits. Environment: GUREUM_DATABASE_URL, GUREUM_LOG_LEVEL. */
async function main(): Promise<void> {
  const logger = createLogger('registry-migrate');
  try {
    const config = loadConfig(MigrateEnvSchema);
    const applied = await migrateRegistryDatabase(config.GUREUM_DATABASE_URL);
    for (const name of applied) logger.info({ migration: name }, 'migration applied');
    logger.info({ applied }, applied.length === 0 ? 'schema registry is up to date' : `applied ${applied.length} migration(s)`);
    process.exit(0);
  } catch (error) {
    if (error instanceof ConfigError) logger.fatal({ problems: error.problems }, 'invalid configuration');
    else logger.fatal({ err: error }, 'migration failed');
    process.exit(1);
  }
}

void main();
