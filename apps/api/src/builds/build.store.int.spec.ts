import { randomBytes, randomUUID } from 'node:crypto';
import { BUILD_CONTEXT_CHUNK_BYTES } from '@gureum/contracts';
import { inTransaction, migrate } from '@gureum/database';
import { createTestDatabase, type TestDatabase } from '@gureum/testing';
import type { DataSource } from 'typeorm';
import { API_SCHEMA, createApiDataSource } from '../database/api-data-source';
import { CreateTenant } from '../tenants/create-tenant.usecase';
import { applyBuildReport, failStaleBuilds, findBuild, findBuildLog, insertBuild, MAX_LOG_CHARS, readContextChunk } from './build.store';

/** Build records against real PostgreSQL with the real migrations: per-node access, forward-only states, log cap, reaping. */

let database: TestDatabase;
let dataSource: DataSource;
let tenantA: string;
let tenantB: string;

beforeAll(async () => {
  database = await createTestDatabase('api_builds');
  dataSource = createApiDataSource(database.url, 'api-builds-test');
  await dataSource.initialize();
  await migrate(dataSource, API_SCHEMA);
  tenantA = (await new CreateTenant(dataSource).execute({ name: 'builds-a' })).id;
  tenantB = (await new CreateTenant(dataSource).execute({ name: 'builds-b' })).id;
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

async function newBuild(context: Buffer, hostId = 'node-1') {
  return insertBuild(dataSource.manager, {
    id: randomUUID(),
    tenantId: tenantA,
    repository: 'builds-a/app',
    tag: '1',
    image: '127.0.0.1:5000/builds-a/app:1',
    hostId,
    cpuMillis: 500,
    memoryMiB: 256,
    context,
  });
}

const report = (hostId: string, value: Parameters<typeof applyBuildReport>[2]) => inTransaction(dataSource, (manager) => applyBuildReport(manager, hostId, value));

describe('build records', () => {
  it('serves the context in chunks only to the build host, byte for byte', async () => {
    const context = randomBytes(BUILD_CONTEXT_CHUNK_BYTES + 1234);
    const build = await newBuild(context);
    const first = await readContextChunk(dataSource.manager, 'node-1', build.id, 0);
    const second = await readContextChunk(dataSource.manager, 'node-1', build.id, BUILD_CONTEXT_CHUNK_BYTES);
    expect(first.eof).toBe(false);
    expect(second.eof).toBe(true);
    expect(Buffer.concat([Buffer.from(first.data, 'base64'), Buffer.from(second.data, 'base64')]).equals(context)).toBe(true);
    await expect(readContextChunk(dataSource.manager, 'node-2', build.id, 0)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('moves states forward only, keeps the digest, drops the context at the end, and hides builds from other tenants', async () => {
    const build = await newBuild(randomBytes(100));
    await expect(report('node-2', { buildId: build.id, state: 'building', log: 'x' })).rejects.toMatchObject({ code: 'not_found' });
    expect(await report('node-1', { buildId: build.id, state: 'building', log: 'step 1\n' })).toBe(true);
    expect(await report('node-1', { buildId: build.id, state: 'pushing', log: 'pushing\n' })).toBe(true);
    expect(await report('node-1', { buildId: build.id, state: 'building', log: 'late\n' })).toBe(false);
    await expect(report('node-1', { buildId: build.id, state: 'succeeded', log: '' })).rejects.toMatchObject({ code: 'validation_failed' });
    expect(await report('node-1', { buildId: build.id, state: 'succeeded', log: 'done\n', digest: `sha256:${'a'.repeat(64)}` })).toBe(true);
    expect(await report('node-1', { buildId: build.id, state: 'failed', log: 'again\n', error: 'x' })).toBe(false);

    const view = await findBuild(dataSource.manager, tenantA, build.id);
    expect(view).toMatchObject({ state: 'succeeded', digest: `sha256:${'a'.repeat(64)}`, error: null });
    expect(view.finishedAt).not.toBeNull();
    expect((await findBuildLog(dataSource.manager, tenantA, build.id)).log).toBe('step 1\npushing\ndone\n');
    await expect(readContextChunk(dataSource.manager, 'node-1', build.id, 0)).rejects.toMatchObject({ code: 'not_found' });
    await expect(findBuild(dataSource.manager, tenantB, build.id)).rejects.toMatchObject({ code: 'not_found' });
    await expect(findBuildLog(dataSource.manager, tenantB, build.id)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('caps the log and says so', async () => {
    const build = await newBuild(randomBytes(10));
    const chunk = 'y'.repeat(200 * 1024);
    for (let i = 0; i < 6; i += 1) await report('node-1', { buildId: build.id, state: 'building', log: chunk });
    const log = await findBuildLog(dataSource.manager, tenantA, build.id);
    expect(log.log.length).toBe(MAX_LOG_CHARS);
    expect(log.truncated).toBe(true);
  });

  it('fails builds whose host went silent, and only those', async () => {
    const silent = await newBuild(randomBytes(10));
    const alive = await newBuild(randomBytes(10));
    await dataSource.query(`UPDATE "api"."builds" SET "updated_at" = now() - interval '10 minutes' WHERE "id" = $1`, [silent.id]);
    const failed = await failStaleBuilds(dataSource.manager, 300);
    expect(failed).toContain(silent.id);
    expect(failed).not.toContain(alive.id);
    expect(await findBuild(dataSource.manager, tenantA, silent.id)).toMatchObject({ state: 'failed', error: 'the build host stopped reporting on the build' });
    expect((await findBuild(dataSource.manager, tenantA, alive.id)).state).toBe('queued');
  });
});
