import { migrate } from '@gureum/database';
import { createTestDatabase, type TestDatabase } from '@gureum/testing';
import type { DataSource } from 'typeorm';
import { API_SCHEMA, createApiDataSource } from '../database/api-data-source';
import { CreateTenant } from '../tenants/create-tenant.usecase';
import { CreateUser } from '../users/create-user.usecase';
import { SessionService } from './session.service';

/** Refresh-token rotation against real PostgreSQL: a rotated token presented again ends the session family. */

let database: TestDatabase;
let dataSource: DataSource;
let sessions: SessionService;
let userId: string;

beforeAll(async () => {
  database = await createTestDatabase('api_sessions');
  dataSource = createApiDataSource(database.url, 'api-sessions-test');
  await dataSource.initialize();
  await migrate(dataSource, API_SCHEMA);
  const tenant = await new CreateTenant(dataSource).execute({ name: 'session-co' });
  userId = (await dataSource.transaction((manager) => new CreateUser().execute(manager, { login: 'sam@session.test', tenantId: tenant.id, role: 'member', password: 'a long enough password' }))).id;
  sessions = new SessionService(dataSource);
});

afterAll(async () => {
  await dataSource?.destroy();
  await database?.drop();
});

it('rotates on refresh, and revokes the whole session when a rotated refresh token comes back', async () => {
  const first = await sessions.open(userId);
  const second = await sessions.refresh(first.refreshToken);
  expect(second).not.toBeNull();
  expect(await sessions.authenticate(second!.accessToken)).toMatchObject({ ok: true });

  expect(await sessions.refresh(first.refreshToken)).toBeNull();
  expect(await sessions.authenticate(second!.accessToken)).toEqual({ ok: false });
  expect(await sessions.refresh(second!.refreshToken)).toBeNull();
});

it('of two concurrent refreshes with one token, one wins and the other is reuse: the session ends', async () => {
  const opened = await sessions.open(userId);
  const results = await Promise.all([sessions.refresh(opened.refreshToken), sessions.refresh(opened.refreshToken)]);
  const winners = results.filter((tokens) => tokens !== null);
  expect(winners).toHaveLength(1);
  expect(await sessions.authenticate(winners[0]!.accessToken)).toEqual({ ok: false });
});

it('leaves other sessions of the same user alone', async () => {
  const stolen = await sessions.open(userId);
  const other = await sessions.open(userId);
  await sessions.refresh(stolen.refreshToken);
  await sessions.refresh(stolen.refreshToken);
  expect(await sessions.authenticate(other.accessToken)).toMatchObject({ ok: true });
});

it('an unknown refresh token revokes nothing', async () => {
  const session = await sessions.open(userId);
  expect(await sessions.refresh(`grt_${'A'.repeat(43)}`)).toBeNull();
  expect(await sessions.authenticate(session.accessToken)).toMatchObject({ ok: true });
});
