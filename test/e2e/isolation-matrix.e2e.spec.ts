/**
 * The isolation matrix, generated from the api's own policy table (published in its OpenAPI
 * document as `x-gureum-roles` next to each operation): for every route and every kind of
 * caller, the status the real api in front of the real scheduler answers. Also: every
 * mutating call leaves an audit entry, and no secret is stored or logged in clear.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient } from './support/api-client';
import { FIXTURES, fillPath, type MatrixWorld, type PreparedCall } from './support/route-fixtures';
import { System } from './support/system';

type Role = 'operator' | 'owner' | 'member' | 'viewer';
type CallerName = 'operator' | 'owner' | 'member' | 'viewer' | 'otherTenantOwner' | 'noKey' | 'revokedKey' | 'expiredKey';
const CALLERS: readonly CallerName[] = ['operator', 'owner', 'member', 'viewer', 'otherTenantOwner', 'noKey', 'revokedKey', 'expiredKey'];

interface Route {
  method: string;
  path: string;
  operationId: string;
  roles: Role[] | null;
  successStatus: number;
}

// Metering, billing and the registry run too, so the usage, billing and image routes answer for real.
const system = new System({
  label: 'matrix',
  agentCapacity: { cpuMillis: 4000, memoryMiB: 4096, pids: 8192 },
  metering: { sampleMs: 5000 },
  billing: { period: 'PT1H', graceSeconds: 1, runIntervalMs: 1000 },
  registry: true,
});
const PASSWORD = `pw-${randomBytes(12).toString('base64url')}`;
const keys = {} as Record<Exclude<CallerName, 'noKey'>, string>;
let routes: Route[] = [];
let world: MatrixWorld;
/** Every secret this file saw, for the storage and log checks. */
const secrets: string[] = [PASSWORD];
/** Request ids of the matrix calls, per route, with the status each got. */
const calls = new Map<string, Array<{ requestId: string; status: number; caller: CallerName }>>();

function expectedStatus(route: Route, caller: CallerName, allowed: number): number {
  if (route.roles === null) return allowed;
  if (caller === 'noKey' || caller === 'revokedKey' || caller === 'expiredKey') return 401;
  const role: Role = caller === 'otherTenantOwner' ? 'owner' : caller;
  if (!route.roles.includes(role)) return 403;
  // Tenant A's object, asked for by tenant B: it does not exist for B.
  if (caller === 'otherTenantOwner' && route.path.includes('{')) return 404;
  return allowed;
}

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start({
    GUREUM_API_RATE_BURST: '100000',
    GUREUM_API_RATE_PER_SECOND: '100000',
    GUREUM_LOGIN_RATE_BURST: '1000',
    GUREUM_LOGIN_RATE_PER_MINUTE: '1000',
    // The matrix presents revoked and expired keys on every route from one address.
    GUREUM_AUTH_SOURCE_FAILURE_BURST: '100000',
    GUREUM_AUTH_SOURCE_FAILURES_PER_MINUTE: '100000',
  });
  keys.operator = await system.createOperatorKey('matrix-ops');
  const operator = new ApiClient(system.apiUrl, keys.operator);

  const createTenant = async (name: string) => {
    const res = await operator.call<{ tenant: { id: string }; ownerApiKey: { apiKey: string } }>('POST', '/v1/tenants', { name });
    expect(res.status).toBe(201);
    return res.body;
  };
  const a = await createTenant('matrix-a');
  const b = await createTenant('matrix-b');
  keys.owner = a.ownerApiKey.apiKey;
  keys.otherTenantOwner = b.ownerApiKey.apiKey;
  const ownerA = new ApiClient(system.apiUrl, keys.owner);
  const issue = async (role: string, name: string) => {
    const res = await ownerA.call<{ id: string; apiKey: string }>('POST', '/v1/api-keys', { name, role });
    expect(res.status).toBe(201);
    return res.body;
  };
  keys.member = (await issue('member', 'member')).apiKey;
  keys.viewer = (await issue('viewer', 'viewer')).apiKey;
  const revoked = await issue('owner', 'revoked');
  expect((await ownerA.call('DELETE', `/v1/api-keys/${revoked.id}`)).status).toBe(204);
  keys.revokedKey = revoked.apiKey;
  const expired = await issue('owner', 'expired');
  await system.query(`UPDATE api.api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1`, [expired.id]);
  keys.expiredKey = expired.apiKey;
  secrets.push(...Object.values(keys));

  const invited = await ownerA.call<{ signInAs: string }>('POST', '/v1/users', { login: `alice-${randomBytes(3).toString('hex')}`, role: 'member', password: PASSWORD });
  expect(invited.status).toBe(201);
  // Invited logins are unique per tenant: the user signs in as `<tenant>/<login>`.
  const userALogin = invited.body.signInAs;
  const workload = await ownerA.call<{ id: string }>('POST', '/v1/workloads', { name: 'kept', kind: 'container', image: 'gureum/busybox:latest', command: ['sleep', '3600'], resources: { cpuMillis: 10, memoryMiB: 16, pids: 16 } });
  expect(workload.status).toBe(201);
  world = { operator, ownerA, tenantAId: a.tenant.id, workloadAId: workload.body.id, userALogin, password: PASSWORD };

  const document = (await new ApiClient(system.apiUrl, null).call<{ paths: Record<string, Record<string, { operationId: string; 'x-gureum-roles': Role[] | null; responses: Record<string, unknown> }>> }>('GET', '/v1/openapi.json')).body;
  routes = Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      operationId: operation.operationId,
      roles: operation['x-gureum-roles'],
      successStatus: Number(Object.keys(operation.responses).find((status) => status.startsWith('2'))),
    })),
  );
}, 240_000);

afterAll(async () => {
  await system.stop();
}, 60_000);

describe('isolation matrix', () => {
  it('has a way to call every route the api serves (a new route without a fixture fails here)', () => {
    expect(routes.length).toBeGreaterThanOrEqual(27);
    expect(routes.map((route) => route.operationId).sort()).toEqual(Object.keys(FIXTURES).sort());
    for (const route of routes) expect({ route: route.operationId, roles: route.roles === undefined ? 'missing' : 'present' }).toEqual({ route: route.operationId, roles: 'present' });
  });

  it('answers every route × caller with the status its policy says', async () => {
    const outcomes: string[] = [];
    const expectations: string[] = [];
    // A refused call does not consume its object, so one prepared call serves all refused callers.
    for (const route of routes) {
      const fixture = FIXTURES[route.operationId];
      if (!fixture) throw new Error(`no fixture for ${route.operationId}`);
      let shared: PreparedCall | null = null;
      for (const caller of CALLERS) {
        const provisional = expectedStatus(route, caller, route.successStatus);
        const consumes = provisional !== 401 && provisional !== 403;
        const prepared = consumes ? await fixture(world) : (shared ??= await fixture(world));
        const expected = expectedStatus(route, caller, prepared.allowedStatus ?? route.successStatus);
        const requestId = `mx-${route.operationId}-${caller}-${randomUUID().slice(0, 8)}`;
        const client = new ApiClient(system.apiUrl, caller === 'noKey' ? null : keys[caller]);
        const res = await client.call(route.method, fillPath(route.path, prepared.path, prepared.query), prepared.body, { 'x-request-id': requestId });
        if (res.status >= 400) expect(res.headers.get('content-type')).toBe('application/problem+json');
        collectSecrets(res.body);
        outcomes.push(`${route.method} ${route.path} as ${caller}: ${res.status}`);
        expectations.push(`${route.method} ${route.path} as ${caller}: ${expected}`);
        const list = calls.get(route.operationId) ?? [];
        list.push({ requestId, status: res.status, caller });
        calls.set(route.operationId, list);
      }
    }
    // One comparison, so a failure shows every cell that differs.
    expect(outcomes).toEqual(expectations);
  }, 300_000);

  it('records an audit entry for every mutating call, refused ones included, with who, what, result and request id', async () => {
    const operator = new ApiClient(system.apiUrl, keys.operator);
    const mutating = routes.filter((route) => route.method !== 'GET');
    expect(mutating.length).toBeGreaterThanOrEqual(16);
    for (const route of mutating) {
      const made = calls.get(route.operationId) ?? [];
      expect(made).toHaveLength(CALLERS.length);
      const entries = await waitFor(
        async () => {
          const res = await operator.call<{ items: Array<{ requestId: string; status: number; result: string; action: string; principalId: string | null; sourceAddress: string | null; at: string }> }>(
            'GET',
            `/v1/admin/audit?action=${route.operationId}&limit=500`,
          );
          const found = res.body.items.filter((entry) => made.some((call) => call.requestId === entry.requestId));
          return found.length === made.length ? found : undefined;
        },
        { timeoutMs: 10_000, what: `audit entries of ${route.operationId}` },
      );
      for (const call of made) {
        const entry = entries.find((e) => e.requestId === call.requestId)!;
        expect({ action: entry.action, status: entry.status, result: entry.result }).toEqual({
          action: route.operationId,
          status: call.status,
          result: call.status < 400 ? 'success' : 'failure',
        });
        expect(entry.sourceAddress).toMatch(/127\.0\.0\.1/);
        if (route.roles !== null && call.status < 400) expect(entry.principalId).not.toBeNull();
      }
    }
  }, 120_000);

  it("shows a tenant owner only their own tenant's audit trail", async () => {
    const owner = new ApiClient(system.apiUrl, keys.owner);
    const res = await owner.call<{ items: Array<{ tenantId: string | null }> }>('GET', '/v1/audit?limit=500');
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeGreaterThan(0);
    expect(new Set(res.body.items.map((entry) => entry.tenantId))).toEqual(new Set([world.tenantAId]));
    expect((await owner.call('GET', `/v1/audit?tenantId=${randomUUID()}`)).status).toBe(400);
  });

  it('never stores or logs a key, password or token in clear', async () => {
    const { rows } = await system.query<{ dump: string }>(
      `SELECT string_agg(t::text, E'\\n') AS dump FROM (
         SELECT row_to_json(k)::text AS t FROM api.api_keys k
         UNION ALL SELECT row_to_json(u)::text FROM api.users u
         UNION ALL SELECT row_to_json(s)::text FROM api.sessions s
         UNION ALL SELECT row_to_json(a)::text FROM api.audit_entries a) rows`,
    );
    const dump = rows[0]!.dump;
    const logs = await system.readLogs();
    expect(secrets.length).toBeGreaterThan(10);
    for (const secret of secrets) {
      const secretPart = secret.startsWith('grm_') ? secret.slice(17) : secret;
      expect({ secret: secret.slice(0, 8), inDatabase: dump.includes(secretPart), inLogs: logs.includes(secretPart) }).toEqual({
        secret: secret.slice(0, 8),
        inDatabase: false,
        inLogs: false,
      });
    }
    // The hashes are there, so the check above looked at the right rows.
    expect(dump).toMatch(/scrypt\$/);
  });

  it('never returns a secret or a hash in list responses', async () => {
    const owner = new ApiClient(system.apiUrl, keys.owner);
    const operator = new ApiClient(system.apiUrl, keys.operator);
    const lists = [await owner.call('GET', '/v1/api-keys'), await owner.call('GET', '/v1/users'), await operator.call('GET', '/v1/admin/audit?limit=500')];
    for (const list of lists) {
      expect(list.status).toBe(200);
      const text = JSON.stringify(list.body);
      expect(text).not.toMatch(/scrypt\$|secretHash|passwordHash|"apiKey"|grm_[a-z0-9]{12}_/);
      for (const secret of secrets) expect(text.includes(secret.startsWith('grm_') ? secret.slice(17) : secret)).toBe(false);
    }
    expect((lists[0]!.body as { items: unknown[] }).items.length).toBeGreaterThan(3);
  });
});

/** Keys, generated passwords and tokens handed out by the api during the matrix. */
function collectSecrets(body: unknown): void {
  if (!body || typeof body !== 'object') return;
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (typeof value === 'string' && ['apiKey', 'initialPassword', 'accessToken', 'refreshToken'].includes(key)) secrets.push(value);
    else if (value && typeof value === 'object') collectSecrets(value);
  }
}
