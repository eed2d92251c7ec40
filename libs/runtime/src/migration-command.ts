import { ConfigError } from './config';
import { createLogger } from './logger';

/**
 * The body of every service's `migrate.js`: runs `migrate` (which loads its configuration and
 * applies the schema's pending migrations, returning their names), logs what it applied and
 * exits 0, or logs why it could not and exits 1.
 */
export function runMigrationCommand(schema: string, migrate: () => Promise<string[]>): void {
  const logger = createLogger(`${schema}-migrate`);
  // Through a promise, so a configuration error thrown synchronously is reported the same way.
  Promise.resolve().then(migrate).then(
    (applied) => {
      for (const name of applied) logger.info({ migration: name }, 'migration applied');
      logger.info({ applied }, applied.length === 0 ? `schema ${schema} is up to date` : `applied ${applied.length} migration(s)`);
      process.exit(0);
    },
    (error: unknown) => {
      if (error instanceof ConfigError) logger.fatal({ problems: error.problems }, 'invalid configuration');
      else logger.fatal({ err: error }, 'migration failed');
      process.exit(1);
    },
  );
}
