// Jest globalTeardown of the integration and e2e tiers: reaps processes test files left
// running, and lets go of the test PostgreSQL if the global setup took it (it stops when
// no other test run holds it).
import { PG_HELD_BY_SETUP } from './jest-global-setup';
import { libSh } from './lib-sh';
import { testRunId } from './paths';

export default async function globalTeardown(): Promise<void> {
  await libSh('kill-registered', testRunId());
  if (process.env[PG_HELD_BY_SETUP] === 'true') {
    await libSh('test-pg-stop', String(process.pid)); // stops it unless another run holds it
    delete process.env[PG_HELD_BY_SETUP];
    delete process.env['GUREUM_TEST_PG_URL'];
  }
}
