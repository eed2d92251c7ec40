import { Writable } from 'node:stream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Commands, GureumError, PrincipalSchema } from '@gureum/contracts';
import { migrate } from '@gureum/database';
import { Bus } from '@gureum/messaging';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@gureum/testing';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import { createApiApp, type ApiApp } from '../app/api-app';
import { IssueApiKey } from '../auth/issue-api-key.usecase';
import { API_SCHEMA, createApiDataSource } from '../database/api-data-source';
import { CreateTenant, type CreatedTenant } from '../tenants/create-tenant.usecase';
import { CreateUser } from '../users/create-user.usecase';

/** `identity.cmd.credentials.verify.v1` as the registry calls it: over real NATS, against the real api. */

const VERIFY = Commands.identityVerifyCredentials.subject;
const PASSWORD = 'correct horse battery staple';

let database: TestDatabase;
let nats: TestNats;
let dataSource: DataSource;
let api: ApiApp;
let nc: NatsConnection;
let bus: Bus;
let tenant: CreatedTenant;
let revokedKey: string;
let expiredKey: string;
let operatorKey: string;
const logLines: string[] = [];

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('api_verify'), startNats({ agents: [] })]);
  dataSource = createApiDataSource(database.url, 'api-verify-test');
  await dataSource.initialize();
  await migrate(dataSource, API_SCHEMA);
  tenant = await new CreateTenant(dataSource).execute({ name: 'verify-co' });
  await dataSource.transaction(async (manager) => {
    const issue = new IssueApiKey();
    const revoked = await issue.execute(manager, { tenantId: tenant.id, role: 'member', name: 'revoked' });
    await manager.query(`UPDATE "api"."api_keys" SET revoked_at = now() WHERE id = $1`, [revoked.id]);
    revokedKey = revoked.plaintext;
    expiredKey = (await issue.execute(manager, { tenantId: tenant.id, role: 'member', name: 'old', expiresAt: new Date(Date.now() - 1000) })).plaintext;
    operatorKey = (await issue.execute(manager, { tenantId: null, role: 'operator', name: 'ops' })).plaintext;
    await new CreateUser().execute(manager, { login: 'Alice@Example.com', tenantId: tenant.id, role: 'member', password: PASSWORD });
    await new CreateUser().execute(manager, { login: 'bob@example.com', tenantId: tenant.id, role: 'viewer', password: PASSWORD });
  });
  const capture = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  api = await createApiApp(
    { databaseUrl: database.url, nats: { url: nats.url, ...nats.control }, host: '127.0.0.1', port: 0, logLevel: 'debug' },
    { logger: pino({ level: 'debug' }, capture), loginBackoff: { freeFailures: 3, baseDelayMs: 60_000, maxDelayMs: 60_000 } },
  );
  nc = await connect({ servers: nats.url, user: nats.control.user, pass: nats.control.password, name: 'registry-stand-in' });
  bus = new Bus(nc, 5000);
});

afterAll(async () => {
  await nc?.close();
  await api?.close();
  await dataSource?.destroy();
  await Promise.all([nats?.stop(), database?.drop()]);
});

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GureumError);
  return (error as GureumError).code;
}

describe('identity.cmd.credentials.verify.v1', () => {
  it('returns the principal of a good API key, with its tenant name', async () => {
    const principal = await bus.request(VERIFY, { credential: { kind: 'apiKey', apiKey: tenant.owner.apiKey }, via: 'registry', sourceAddress: '10.0.0.1' });
    expect(PrincipalSchema.parse(principal)).toEqual({ principalId: tenant.owner.keyId, kind: 'api_key', tenantId: tenant.id, tenantName: 'verify-co', role: 'owner' });
  });

  it('returns operators without a tenant', async () => {
    const principal = await bus.request(VERIFY, { credential: { kind: 'apiKey', apiKey: operatorKey }, via: 'cli' });
    expect(principal).toMatchObject({ kind: 'api_key', tenantId: null, tenantName: null, role: 'operator' });
  });

  it.each([
    ['a malformed key', () => 'not-a-key'],
    ['an unknown key', () => `grm_aaaaaaaaaaaa_${'A'.repeat(43)}`],
    ['a wrong secret', () => `${tenant.owner.apiKey.slice(0, 17)}${'B'.repeat(43)}`],
    ['a revoked key', () => revokedKey],
    ['an expired key', () => expiredKey],
  ])('answers unauthenticated for %s', async (_case, key) => {
    expect(await refusal(bus.request(VERIFY, { credential: { kind: 'apiKey', apiKey: key() }, via: 'registry' }))).toBe('unauthenticated');
  });

  it('logs a user in with a password, case-insensitively on the login', async () => {
    const principal = await bus.request(VERIFY, { credential: { kind: 'password', login: 'alice@example.com', password: PASSWORD }, via: 'console' });
    expect(principal).toMatchObject({ kind: 'user', tenantId: tenant.id, tenantName: 'verify-co', role: 'member' });
  });

  it('refuses a wrong password, and backs off after repeated failures even for the right one', async () => {
    const attempt = (password: string) => bus.request(VERIFY, { credential: { kind: 'password', login: 'bob@example.com', password }, via: 'registry', sourceAddress: '10.9.9.9' });
    for (let i = 0; i < 3; i += 1) expect(await refusal(attempt('wrong password!'))).toBe('unauthenticated');
    // Throttled, said as such (the HTTP login answers 429 too), so the registry can answer 429 with Retry-After.
    expect(await refusal(attempt(PASSWORD))).toBe('rate_limited');
    // Another login from another address is not affected.
    await expect(bus.request(VERIFY, { credential: { kind: 'password', login: 'alice@example.com', password: PASSWORD }, via: 'cli', sourceAddress: '10.1.1.1' })).resolves.toMatchObject({ role: 'member' });
  });

  it('tells whether the credential behind a principal is still good (registry tokens are checked on use)', async () => {
    const STATUS = 'identity.cmd.principal.status.v1';
    const owner = await bus.request(VERIFY, { credential: { kind: 'apiKey', apiKey: tenant.owner.apiKey }, via: 'registry' });
    expect(await bus.request(STATUS, { principalId: owner.principalId, kind: 'api_key' })).toEqual({ active: true });
    const [revoked] = (await dataSource.query(`SELECT id FROM "api"."api_keys" WHERE name = 'revoked'`)) as Array<{ id: string }>;
    expect(await bus.request(STATUS, { principalId: revoked?.id as string, kind: 'api_key' })).toEqual({ active: false });
    const alice = await bus.request(VERIFY, { credential: { kind: 'password', login: 'alice@example.com', password: PASSWORD }, via: 'console' });
    expect(await bus.request(STATUS, { principalId: alice.principalId, kind: 'user' })).toEqual({ active: true });
    expect(await bus.request(STATUS, { principalId: '00000000-0000-4000-8000-000000000000', kind: 'user' })).toEqual({ active: false });
    expect(await bus.request(STATUS, { principalId: 'not-a-uuid', kind: 'api_key' })).toEqual({ active: false });
    await dataSource.query(`UPDATE "api"."tenants" SET status = 'suspended' WHERE id = $1`, [tenant.id]);
    try {
      expect(await bus.request(STATUS, { principalId: owner.principalId, kind: 'api_key' })).toEqual({ active: false });
    } finally {
      await dataSource.query(`UPDATE "api"."tenants" SET status = 'active' WHERE id = $1`, [tenant.id]);
    }
  });

  it('rejects a malformed request with validation_failed', async () => {
    const raw = await nc.request(VERIFY, JSON.stringify({ id: '1', pattern: VERIFY, data: { credential: { kind: 'token' }, via: 'registry' } }), { timeout: 5000 });
    expect(raw.json<{ err: { code: string } }>().err.code).toBe('validation_failed');
  });

  it('never logs a presented secret', () => {
    const text = logLines.join('\n');
    for (const secret of [tenant.owner.apiKey, revokedKey, expiredKey, operatorKey, PASSWORD]) expect(text).not.toContain(secret);
    expect(text).not.toContain(tenant.owner.apiKey.slice(17));
  });
});
