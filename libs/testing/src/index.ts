// @gureum/testing: the test harness. For tests only (lint forbids it in production code).
export { ensureBusyboxImage, dockerServerVersion, BUSYBOX_IMAGE } from './docker';
export {
  loadNatsConfig,
  startNats,
  natsServerBinary,
  type AgentNatsCredentials,
  type NatsCredentials,
  type StartNatsOptions,
  type TestNats,
} from './nats';
export { repoRoot, testStateDir, testRunId } from './paths';
export { freePort } from './ports';
export { createTestDatabase, testPgAdminUrl, type TestDatabase } from './postgres';
export { startDedicatedPostgres, type DedicatedPostgres } from './dedicated-postgres';
export { spawnProcess, type ManagedProcess, type SpawnProcessOptions } from './process';
export { sleep, waitFor, type WaitForOptions } from './wait-for';
