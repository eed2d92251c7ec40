import 'reflect-metadata';
import { loadConfig, runMigrationCommand } from '@gureum/runtime';
import { MigrateEnvSchema } from './config';
import { migrateRegistryDatabase } from './database/registry-data-source';

/** Applies the registry schema's pending migrations and exits. Environment: GUREUM_DATABASE_URL, GUREUM_LOG_LEVEL. */
runMigrationCommand('registry', () => migrateRegistryDatabase(loadConfig(MigrateEnvSchema).GUREUM_DATABASE_URL));
