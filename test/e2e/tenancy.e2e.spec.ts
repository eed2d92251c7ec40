/**
 * Tenancy end to end: suspending a tenant with a running container stops it and blocks the
 * tenant's writes, resuming restarts it; console login with refresh and logout; and
 * `identity.cmd.credentials.verify.v1` answered by the api over NATS, as the registry uses it.
 */
import { randomBytes } from 'node:crypto';
import { Commands, GureumError } from '@gureum/contracts';
import { Bus, connectNats, type NatsConnection } from '@gureum/messaging';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Workload, waitForWorkloadState } from './support/api-client';
import { dockerInspect, System } from './support/system';

const system = new System({ label: 'tenancy', agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 } });
const PASSWORD = `pw-${randomBytes(12).toString('base64url')}`;
let operator: ApiClient;
let tenantId: string;
let ownerKey: string;
let owner: ApiClient;
let nc: NatsConnection;
let bus: Bus;

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  operator = new ApiClient(system.apiUrl, await system.createOperatorKey('tenancy-ops'));
  const created = await operator.call<{ tenant: { id: string }; ownerApiKey: { apiKey: string } }>('POST', '/v1/tenants', {
    name: 'suspendable',
    owner: { login: 'owner@suspendable.test', password: PASSWORD },
  });
  expect(created.status).toBe(201);
  tenantId = created.body.tenant.id;
  ownerKey = created.body.ownerApiKey.apiKey;
  owner = new ApiClient(system.apiUrl, ownerKey);
  nc = await connectNats({ ...system.natsControl(), name: 'registry-stand-in' });
  bus = new Bus(nc, 10_000);
}, 180_000);

afterAll(async () => {
  await nc?.close();
  await system.stop();
}, 60_000);

function waitForState(id: string, states: string[]): Promise<Workload> {
  return waitForWorkloadState(owner, id, states, { timeoutMs: 30_000 });
}

async function runningContainer(workloadId: string): Promise<string> {
  return waitFor(
    async () => {
      for (const id of await system.containerIds({ 'io.gureum.workload': workloadId })) if ((await dockerInspect(id)).running) return id;
      return undefined;
    },
    { timeoutMs: 30_000, what: `a running container of ${workloadId}` },
  );
}

describe('suspend and resume a tenant with a running container', () => {
  it('stops the container and refuses writes while suspended; resume restarts it and allows writes again', async () => {
    const created = await owner.createWorkload(containerSpec('web'));
    expect(created.status).toBe(201);
    const workloadId = created.body.id;
    await waitForState(workloadId, ['running']);
    const before = await runningContainer(workloadId);

    const suspended = await operator.call<{ status: string; workloadsAffected: number }>('POST', `/v1/tenants/${tenantId}/suspend`);
    expect(suspended.status).toBe(200);
    expect(suspended.body).toMatchObject({ status: 'suspended', workloadsAffected: 1 });

    // Writes are refused at once; reads still work.
    expect((await owner.createWorkload(containerSpec('blocked'))).status).toBe(403);
    expect((await owner.call('POST', `/v1/workloads/${workloadId}/start`)).status).toBe(403);
    expect((await owner.call('POST', '/v1/api-keys', { name: 'blocked', role: 'viewer' })).status).toBe(403);
    expect((await owner.call('GET', '/v1/workloads')).status).toBe(200);

    await waitForState(workloadId, ['stopped']);
    await waitFor(async () => ((await dockerInspect(before).catch(() => ({ running: false }))).running ? undefined : true), {
      timeoutMs: 30_000,
      what: 'the container to stop',
    });

    const resumed = await operator.call<{ status: string; workloadsAffected: number }>('POST', `/v1/tenants/${tenantId}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ status: 'active', workloadsAffected: 1 });
    await waitForState(workloadId, ['running']);
    await runningContainer(workloadId);
    expect((await owner.call('POST', '/v1/api-keys', { name: 'allowed again', role: 'viewer' })).status).toBe(201);

    // Not empty: deleting the tenant is refused until its workloads are gone.
    expect((await operator.call('DELETE', `/v1/tenants/${tenantId}`)).status).toBe(409);
  });
});

describe('console login', () => {
  it('logs in with a password, refreshes (rotating both tokens), and logout revokes at once', async () => {
    const anonymous = new ApiClient(system.apiUrl, null);
    const login = await anonymous.call<{ accessToken: string; refreshToken: string; expiresIn: number }>('POST', '/v1/auth/login', { login: 'OWNER@suspendable.test', password: PASSWORD });
    expect(login.status).toBe(200);
    expect(login.body.expiresIn).toBeGreaterThan(0);
    const session = new ApiClient(system.apiUrl, login.body.accessToken);
    expect((await session.call('GET', '/v1/me')).body).toMatchObject({ kind: 'user', role: 'owner', tenant: { id: tenantId, name: 'suspendable' } });

    const refreshed = await anonymous.call<{ accessToken: string; refreshToken: string }>('POST', '/v1/auth/refresh', { refreshToken: login.body.refreshToken });
    expect(refreshed.status).toBe(200);
    expect((await session.call('GET', '/v1/me')).status).toBe(401);

    const current = new ApiClient(system.apiUrl, refreshed.body.accessToken);
    expect((await current.call('GET', '/v1/users')).status).toBe(200);
    expect((await current.call('POST', '/v1/auth/logout')).status).toBe(204);
    expect((await current.call('GET', '/v1/me')).status).toBe(401);
    expect((await anonymous.call('POST', '/v1/auth/refresh', { refreshToken: refreshed.body.refreshToken })).status).toBe(401);
    // A rotated refresh token works once (re-using it revokes the whole session: test/e2e/security/api-auth.e2e.spec.ts).
    expect((await anonymous.call('POST', '/v1/auth/refresh', { refreshToken: login.body.refreshToken })).status).toBe(401);
  });

  it('answers a wrong password with 401, and 429 with Retry-After once the backoff starts', async () => {
    const anonymous = new ApiClient(system.apiUrl, null);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 7; i += 1) {
      const res = await anonymous.call('POST', '/v1/auth/login', { login: 'nobody@suspendable.test', password: 'wrong password' });
      statuses.push(res.status);
      retryAfter ??= res.headers.get('retry-after');
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });
});

describe('identity.cmd.credentials.verify.v1 over NATS', () => {
  const VERIFY = Commands.identityVerifyCredentials.subject;

  async function refused(promise: Promise<unknown>): Promise<string> {
    const error = await promise.then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(GureumError);
    return (error as GureumError).code;
  }

  it('returns the principal of a good key and of a password login', async () => {
    await expect(bus.request(VERIFY, { credential: { kind: 'apiKey', apiKey: ownerKey }, via: 'registry' })).resolves.toMatchObject({
      kind: 'api_key',
      tenantId,
      tenantName: 'suspendable',
      role: 'owner',
    });
    await expect(bus.request(VERIFY, { credential: { kind: 'password', login: 'owner@suspendable.test', password: PASSWORD }, via: 'registry' })).resolves.toMatchObject({
      kind: 'user',
      tenantId,
      role: 'owner',
    });
  });

  it('refuses a bad key and a revoked key with unauthenticated', async () => {
    const key = await owner.call<{ id: string; apiKey: string }>('POST', '/v1/api-keys', { name: 'short-lived', role: 'member' });
    expect(key.status).toBe(201);
    await expect(bus.request(VERIFY, { credential: { kind: 'apiKey', apiKey: key.body.apiKey }, via: 'registry' })).resolves.toMatchObject({ role: 'member' });
    expect((await owner.call('DELETE', `/v1/api-keys/${key.body.id}`)).status).toBe(204);
    expect(await refused(bus.request(VERIFY, { credential: { kind: 'apiKey', apiKey: key.body.apiKey }, via: 'registry' }))).toBe('unauthenticated');
    expect(await refused(bus.request(VERIFY, { credential: { kind: 'apiKey', apiKey: `grm_abcdefghijkl_${'x'.repeat(43)}` }, via: 'registry' }))).toBe('unauthenticated');
    expect(await refused(bus.request(VERIFY, { credential: { kind: 'password', login: 'owner@suspendable.test', password: 'not the password' }, via: 'registry' }))).toBe(
      'unauthenticated',
    );
  });
});
