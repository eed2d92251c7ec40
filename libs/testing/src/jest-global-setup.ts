// Jest globalSetup of the integration and e2e tiers: makes sure the test PostgreSQL and a
// Docker engine are there before any test file starts, and fails fast, with a message
// saying what to do, when they are not.
import { randomBytes } from 'node:crypto';
import { dockerServerVersion } from './docker';
import { libSh } from './lib-sh';
import { natsServerBinary } from './nats';

export const PG_HELD_BY_SETUP = 'GUREUM_TEST_PG_HELD_BY_JEST';

export default async function globalSetup(): Promise<void> {
  // Workers inherit this process's environment: they register their processes under it.
  process.env['GUREUM_TEST_RUN_ID'] ??= `jest-${process.pid}-${randomBytes(3).toString('hex')}`;

  natsServerBinary(); // throws "nats-server not found: ..." early

  if (!(await dockerServerVersion())) {
    throw new Error(
      'No Docker engine answers on /var/run/docker.sock. Start one (deploy/local/ci.sh and ' +
        '`deploy/local/stack.sh up --infra` start dockerd when none runs) and run the tests again.',
    );
  }

  if (!process.env['GUREUM_TEST_PG_URL']) {
    // This process holds the shared test PostgreSQL until the teardown lets go of it.
    const out = await libSh('test-pg-start', String(process.pid));
    const url = out['GUREUM_TEST_PG_URL'];
    if (!url) throw new Error('deploy/local/lib.sh test-pg-start printed no GUREUM_TEST_PG_URL');
    process.env['GUREUM_TEST_PG_URL'] = url;
    // Environment, not a global: teardown may run in a different module registry.
    process.env[PG_HELD_BY_SETUP] = 'true';
  }
}
