import 'reflect-metadata';
import { loadConfig, runMigrationCommand } from '@gureum/runtime';
import { MigrateEnvSchema } from './config';
import { migrateMeteringDatabase } from './database/metering-data-source';

/** Applies the metering schema's pending migrations and exits. Environment: GUREUM_DATABASE_URL, GUREUM_LOG_LEVEL. */
runMigrationCommand('metering', () => migrateMeteringDatabase(loadConfig(MigrateEnvSchema).GUREUM_DATABASE_URL));
