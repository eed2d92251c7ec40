import { migrate } from '@gureum/database';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@gureum/testing';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import { createApiApp, type ApiApp } from '../app/api-app';
import { API_SCHEMA, createApiDataSource } from '../database/api-data-source';
import { CreateTenant, type CreatedTenant } from '../tenants/create-tenant.usecase';

/** Per-credential rate limit at the HTTP edge: 429 problem+json with Retry-After, per key. */

let database: TestDatabase;
let nats: TestNats;
let dataSource: DataSource;
let api: ApiApp;
let first: CreatedTenant;
let second: CreatedTenant;

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('api_rate_limit'), startNats({ agents: [] })]);
  dataSource = createApiDataSource(database.url, 'api-rate-limit-test');
  await dataSource.initialize();
  await migrate(dataSource, API_SCHEMA);
  first = await new CreateTenant(dataSource).execute({ name: 'limited-one' });
  second = await new CreateTenant(dataSource).execute({ name: 'limited-two' });
  api = await createApiApp(
    { databaseUrl: database.url, nats: { url: nats.url, ...nats.control }, host: '127.0.0.1', port: 0, logLevel: 'silent' },
    // A refill this slow never adds a token during the test.
    { logger: pino({ level: 'silent' }), apiKeyRateLimit: { burst: 3, perSecond: 0.001 } },
  );
});

afterAll(async () => {
  await api?.close();
  await dataSource?.destroy();
  await Promise.all([nats?.stop(), database?.drop()]);
});

const me = (key: string) => fetch(`${api.url}/v1/me`, { headers: { authorization: `Bearer ${key}` } });

it('answers 429 with Retry-After once a key used its burst, without affecting other keys', async () => {
  const statuses = [];
  for (let i = 0; i < 3; i += 1) statuses.push((await me(first.owner.apiKey)).status);
  expect(statuses).toEqual([200, 200, 200]);
  const limited = await me(first.owner.apiKey);
  expect(limited.status).toBe(429);
  expect(limited.headers.get('content-type')).toBe('application/problem+json');
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(await limited.json()).toMatchObject({ status: 429, code: 'rate_limited' });
  expect((await me(second.owner.apiKey)).status).toBe(200);
});
