/**
 * Issue 20, the api's holes: a login throttle an attacker cannot turn into somebody else's
 * lockout, NUL bytes in JSON, failed API-key checks without a budget, revoked credentials
 * on open event streams, operator routes accepting unknown tenant ids, and refresh-token
 * reuse. One system for the file; each "source address" is a loopback address of its own
 * (the whole 127.0.0.0/8 is local), so the api sees distinct clients.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { waitFor } from '@gureum/testing';
import { System } from '../support/system';

const system = new System({ label: 'sec-api-auth', agentCapacity: { cpuMillis: 1000, memoryMiB: 1024, pids: 1024 } });
const PASSWORD = `pw-${randomBytes(12).toString('base64url')}`;
let operatorKey: string;
let ownerKey: string;
let tenantId: string;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One request from `source` (a loopback address), so the api's per-source limits see it as that client. */
function call(method: string, path: string, options: { token?: string; body?: unknown; rawBody?: string; source?: string } = {}): Promise<Reply> {
  const url = new URL(path, system.apiUrl);
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        method,
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        localAddress: options.source ?? '127.0.0.1',
        agent: false,
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}),
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json: <T>() => JSON.parse(text) as T });
        });
      },
    );
    request.on('error', reject);
    if (body !== undefined) request.write(body);
    request.end();
  });
}

/** An open `GET /v1/events/stream`: resolves once the server said `connected`; `ended` resolves when the server ends it. */
async function openStream(token: string): Promise<{ ended: Promise<void>; isOpen: () => boolean; close: () => void }> {
  const url = new URL('/v1/events/stream', system.apiUrl);
  return new Promise((resolve, reject) => {
    let open = true;
    const request = http.get({ host: url.hostname, port: url.port, path: url.pathname, agent: false, headers: { authorization: `Bearer ${token}` } }, (response) => {
      if (response.statusCode !== 200) return reject(new Error(`event stream answered ${response.statusCode}`));
      const ended = new Promise<void>((done) => {
        response.on('end', done);
        response.on('close', done);
      }).then(() => {
        open = false;
      });
      let seen = '';
      response.on('data', (chunk: Buffer) => {
        seen += chunk.toString('utf8');
        if (seen.includes(': connected')) resolve({ ended, isOpen: () => open, close: () => request.destroy() });
      });
    });
    request.on('error', (error) => (open ? reject(error) : undefined));
  });
}

beforeAll(async () => {
  // A short re-check interval keeps the revocation test quick; the default is 5 s.
  await system.start({ GUREUM_API_STREAM_RECHECK_MS: '500' });
  operatorKey = await system.createOperatorKey('sec-api-auth-ops');
  const created = await call('POST', '/v1/tenants', { token: operatorKey, body: { name: 'sec-auth-a', owner: { login: 'owner@sec-auth-a.test', password: PASSWORD } } });
  expect(created.status).toBe(201);
  const body = created.json<{ tenant: { id: string }; ownerApiKey: { apiKey: string } }>();
  tenantId = body.tenant.id;
  ownerKey = body.ownerApiKey.apiKey;
}, 180_000);

afterAll(async () => {
  await system.stop();
}, 60_000);

describe('login throttle', () => {
  it("one source's failed logins do not stop another source logging in as that user", async () => {
    const attacker = '127.0.0.2';
    const statuses: number[] = [];
    for (let i = 0; i < 8; i += 1) statuses.push((await call('POST', '/v1/auth/login', { source: attacker, body: { login: 'owner@sec-auth-a.test', password: 'not the password' } })).status);
    // The attacker's own source backs off …
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    const refused = await call('POST', '/v1/auth/login', { source: attacker, body: { login: 'owner@sec-auth-a.test', password: PASSWORD } });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // … and the user, from anywhere else, logs in.
    const user = await call('POST', '/v1/auth/login', { source: '127.0.0.3', body: { login: 'owner@sec-auth-a.test', password: PASSWORD } });
    expect(user.status).toBe(200);
  });

  it('does not hold the operator admin locked', async () => {
    const admin = await system.createOperatorUser('admin');
    for (let i = 0; i < 12; i += 1) await call('POST', '/v1/auth/login', { source: '127.0.0.4', body: { login: 'admin', password: 'guessing again' } });
    const login = await call('POST', '/v1/auth/login', { source: '127.0.0.5', body: { login: 'admin', password: admin.password } });
    expect(login.status).toBe(200);
    expect((await call('GET', '/v1/me', { token: login.json<{ accessToken: string }>().accessToken })).json()).toMatchObject({ role: 'operator' });
  });
});

describe('JSON bodies', () => {
  it.each([
    ['an API key name', 'POST', '/v1/api-keys', '{"name":"key\\u0000name","role":"viewer"}'],
    ['a member name in an object', 'PUT', '/v1/admin/tenants/:tenant/quotas', '{"cpuMillis\\u0000":1000}'],
    ['a login', 'POST', '/v1/users', '{"login":"nul\\u0000user@sec.test","role":"viewer"}'],
  ])('answers 400 problem+json for a NUL character in %s', async (_what, method, path, rawBody) => {
    const token = path.startsWith('/v1/admin') ? operatorKey : ownerKey;
    const res = await call(method, path.replace(':tenant', tenantId), { token, rawBody });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json()).toMatchObject({ status: 400, code: 'validation_failed' });
  });
});

describe('API-key checks', () => {
  it('answers a burst of bad API keys from one source with 429 and Retry-After, and other sources are not affected', async () => {
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 60; i += 1) {
      const forged = `grm_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
      const res = await call('GET', '/v1/me', { token: forged, source: '127.0.0.6' });
      statuses.push(res.status);
      if (res.status === 429) retryAfter ??= res.headers['retry-after'] as string;
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(-5)).toEqual(Array(5).fill(429));
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // Even the right key is not checked from that source any more; from another it works.
    expect((await call('GET', '/v1/me', { token: ownerKey, source: '127.0.0.6' })).status).toBe(429);
    expect((await call('GET', '/v1/me', { token: ownerKey, source: '127.0.0.7' })).status).toBe(200);
  });
});

describe('open event streams', () => {
  it('ends the open stream of a revoked API key, and leaves other streams open', async () => {
    const issued = await call('POST', '/v1/api-keys', { token: ownerKey, body: { name: 'watcher', role: 'viewer' } });
    expect(issued.status).toBe(201);
    const { id, apiKey } = issued.json<{ id: string; apiKey: string }>();
    const doomed = await openStream(apiKey);
    const other = await openStream(ownerKey);
    expect((await call('DELETE', `/v1/api-keys/${id}`, { token: ownerKey })).status).toBe(204);
    await Promise.race([
      doomed.ended,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the revoked key’s stream is still open after 30 s')), 30_000)),
    ]);
    expect(doomed.isOpen()).toBe(false);
    // The owner's stream outlived the revoked one by several re-checks.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(other.isOpen()).toBe(true);
    other.close();
  });

  it('ends the open stream of a logged-out session', async () => {
    const login = await call('POST', '/v1/auth/login', { body: { login: 'owner@sec-auth-a.test', password: PASSWORD } });
    expect(login.status).toBe(200);
    const { accessToken } = login.json<{ accessToken: string }>();
    const stream = await openStream(accessToken);
    expect((await call('POST', '/v1/auth/logout', { token: accessToken })).status).toBe(204);
    await waitFor(async () => (stream.isOpen() ? undefined : true), { timeoutMs: 30_000, what: 'the logged-out session’s stream to end' });
  });
});

describe('operator routes naming a tenant', () => {
  it.each([
    ['GET', '/v1/admin/tenants/:id/quotas', undefined],
    ['PUT', '/v1/admin/tenants/:id/quotas', { cpuMillis: 1000 }],
    ['PUT', '/v1/admin/tenants/:id/plan', { planId: randomUUID() }],
  ])('%s %s answers 404 problem+json for an unknown tenant id', async (method, path, body) => {
    const res = await call(method, path.replace(':id', randomUUID()), { token: operatorKey, ...(body ? { body } : {}) });
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json()).toMatchObject({ status: 404, code: 'not_found' });
  });
});

describe('login names', () => {
  it("an owner cannot probe other tenants' logins: inviting a name taken elsewhere answers as for a free one, and each signs in to its own tenant", async () => {
    const other = await call('POST', '/v1/tenants', { token: operatorKey, body: { name: 'sec-auth-b', owner: { login: 'owner@sec-auth-b.test', password: PASSWORD } } });
    expect(other.status).toBe(201);
    const otherKey = other.json<{ ownerApiKey: { apiKey: string } }>().ownerApiKey.apiKey;
    const theirs = await call('POST', '/v1/users', { token: otherKey, body: { login: 'carol@probe.test', role: 'viewer', password: PASSWORD } });
    expect(theirs.status).toBe(201);

    // Tenant a's owner invites the name tenant b already has, and the name of b's owner: both as for free names.
    const mine = await call('POST', '/v1/users', { token: ownerKey, body: { login: 'carol@probe.test', role: 'member', password: PASSWORD } });
    expect(mine.status).toBe(201);
    expect(mine.json()).toMatchObject({ login: 'carol@probe.test', signInAs: 'sec-auth-a/carol@probe.test' });
    expect((await call('POST', '/v1/users', { token: ownerKey, body: { login: 'owner@sec-auth-b.test', role: 'viewer', password: PASSWORD } })).status).toBe(201);
    // Only a name taken in the owner's own tenant is a conflict.
    const again = await call('POST', '/v1/users', { token: ownerKey, body: { login: 'carol@probe.test', role: 'viewer' } });
    expect(again.status).toBe(409);

    // Each carol signs in to her own tenant.
    for (const [signInAs, tenantName] of [
      ['sec-auth-a/carol@probe.test', 'sec-auth-a'],
      ['sec-auth-b/carol@probe.test', 'sec-auth-b'],
    ]) {
      const login = await call('POST', '/v1/auth/login', { source: '127.0.0.8', body: { login: signInAs, password: PASSWORD } });
      expect(login.status).toBe(200);
      expect((await call('GET', '/v1/me', { token: login.json<{ accessToken: string }>().accessToken })).json()).toMatchObject({ tenant: { name: tenantName } });
    }
    // The first owner keeps signing in without a tenant, as before.
    expect((await call('POST', '/v1/auth/login', { source: '127.0.0.8', body: { login: 'owner@sec-auth-b.test', password: PASSWORD } })).status).toBe(200);
  });
});

describe('refresh tokens', () => {
  it('a re-used refresh token ends the whole session: its newer tokens stop working', async () => {
    const login = await call('POST', '/v1/auth/login', { body: { login: 'owner@sec-auth-a.test', password: PASSWORD } });
    expect(login.status).toBe(200);
    const first = login.json<{ refreshToken: string }>();
    const rotated = await call('POST', '/v1/auth/refresh', { body: { refreshToken: first.refreshToken } });
    expect(rotated.status).toBe(200);
    const second = rotated.json<{ accessToken: string; refreshToken: string }>();
    expect((await call('GET', '/v1/me', { token: second.accessToken })).status).toBe(200);

    // The old refresh token again: a thief (or the client after a thief) — the family ends.
    expect((await call('POST', '/v1/auth/refresh', { body: { refreshToken: first.refreshToken } })).status).toBe(401);
    expect((await call('GET', '/v1/me', { token: second.accessToken })).status).toBe(401);
    expect((await call('POST', '/v1/auth/refresh', { body: { refreshToken: second.refreshToken } })).status).toBe(401);
  });
});
