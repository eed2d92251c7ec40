import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import { RequestMethod } from '@nestjs/common';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { Commands, WorkloadPageSchema, WorkloadViewSchema, type Caller, type WorkloadView } from '@gureum/contracts';
import { migrate } from '@gureum/database';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import pino from 'pino';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { createApiApp, type ApiApp } from './api-app';
import { IssueApiKey } from '../auth/issue-api-key.usecase';
import { API_SCHEMA, createApiDataSource } from '../database/api-data-source';
import { ProblemSchema } from '../http/problem';
import { API_ROUTES } from '../openapi/api-routes';
import type { OpenApiDocument } from '../openapi/openapi';
import { CreateTenant } from '../tenants/create-tenant.usecase';

/**
 * The api against real PostgreSQL (real migrations) and a real nats-server. The scheduler is
 * a stand-in on the real subjects that answers with Nest's reply envelope and records what
 * arrived, so the test can see exactly what the api forwarded.
 */

interface ReceivedCommand {
  subject: string;
  data: { caller: Caller; [field: string]: unknown };
}

/** Behaviour keyed by workload name, so each test can provoke one scheduler answer. */
const NAME_UNKNOWN_IMAGE = 'unknown-image';
const NAME_SLOW = 'never-answered';

class SchedulerStandIn {
  readonly received: ReceivedCommand[] = [];
  private readonly workloads = new Map<string, WorkloadView>();
  private readonly idempotent = new Map<string, string>();
  private subscription: Subscription | null = null;

  constructor(private readonly nc: NatsConnection) {}

  start(): void {
    this.subscription = this.nc.subscribe('scheduler.cmd.workload.>', {
      callback: (_error, msg) => {
        const envelope = msg.json<{ id: string; data: ReceivedCommand['data'] }>();
        this.received.push({ subject: msg.subject, data: envelope.data });
        const outcome = this.handle(msg.subject, envelope.data);
        if (outcome === 'silence') return;
        msg.respond(JSON.stringify({ id: envelope.id, ...outcome }));
      },
    });
  }

  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    this.subscription = null;
    await this.nc.flush();
  }

  forTenant(tenantId: string): ReceivedCommand[] {
    return this.received.filter((command) => command.data.caller.tenantId === tenantId);
  }

  private handle(subject: string, data: ReceivedCommand['data']): { response: unknown } | { err: { code: string; message: string } } | 'silence' {
    const { caller } = data;
    switch (subject) {
      case Commands.workloadCreate.subject: {
        const spec = data['spec'] as { name: string; image: string; resources: WorkloadView['resources']; command?: string[]; env?: Record<string, string> };
        if (spec.name === NAME_SLOW) return 'silence';
        if (spec.name === NAME_UNKNOWN_IMAGE) return { err: { code: 'image_unknown', message: `image ${spec.image} is not in the registry` } };
        const idempotencyKey = data['idempotencyKey'] as string | undefined;
        const earlier = idempotencyKey ? this.idempotent.get(`${caller.tenantId}/${idempotencyKey}`) : undefined;
        if (earlier) return { response: this.workloads.get(earlier) };
        const now = new Date().toISOString();
        const view: WorkloadView = {
          id: randomUUID(),
          tenantId: caller.tenantId,
          name: spec.name,
          kind: 'container',
          image: spec.image,
          command: spec.command ?? null,
          env: spec.env ?? null,
          resources: spec.resources,
          state: 'pending',
          desiredState: 'running',
          reason: null,
          exitCode: null,
          hostId: null,
          generation: 1,
          createdAt: now,
          updatedAt: now,
        };
        this.workloads.set(view.id, view);
        if (idempotencyKey) this.idempotent.set(`${caller.tenantId}/${idempotencyKey}`, view.id);
        return { response: view };
      }
      case Commands.workloadList.subject:
        return { response: { items: [...this.workloads.values()].filter((w) => w.tenantId === caller.tenantId), nextCursor: null } };
      default: {
        // The real scheduler re-checks ownership: another tenant's workload does not exist for the caller.
        const workload = this.workloads.get(data['workloadId'] as string);
        if (!workload || workload.tenantId !== caller.tenantId) return { err: { code: 'not_found', message: 'workload not found' } };
        if (subject === Commands.workloadStart.subject && workload.desiredState === 'running') {
          return { err: { code: 'invalid_state', message: 'the workload is already running' } };
        }
        const desiredStateAfter: Record<string, WorkloadView['desiredState']> = {
          [Commands.workloadStop.subject]: 'stopped',
          [Commands.workloadStart.subject]: 'running',
          [Commands.workloadDelete.subject]: 'deleted',
        };
        const desiredState = desiredStateAfter[subject] ?? workload.desiredState;
        const updated = subject === Commands.workloadGet.subject ? workload : { ...workload, desiredState, updatedAt: new Date().toISOString() };
        this.workloads.set(workload.id, updated);
        return { response: updated };
      }
    }
  }
}

interface Keys {
  tenantA: { id: string; owner: string; ownerKeyId: string; viewer: string; viewerKeyId: string; expired: string; revoked: string };
  tenantB: { id: string; owner: string };
  operator: string;
}

let database: TestDatabase;
let nats: TestNats;
let dataSource: DataSource;
let standInConnection: NatsConnection;
let scheduler: SchedulerStandIn;
let api: ApiApp;
let keys: Keys;
const logLines: string[] = [];
/** Every key issued in this file, so the secrets checks cover all of them. */
const issuedKeys: string[] = [];

const SPEC = { name: 'web', kind: 'container', image: 'gureum/busybox:latest', resources: { cpuMillis: 250, memoryMiB: 64 } };

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('api_http'), startNats({ agents: [] })]);
  dataSource = createApiDataSource(database.url, 'api-int-test');
  await dataSource.initialize();
  await migrate(dataSource, API_SCHEMA);
  keys = await seedKeys(dataSource);

  standInConnection = await connect({ servers: nats.url, user: nats.control.user, pass: nats.control.password, name: 'scheduler-stand-in' });
  scheduler = new SchedulerStandIn(standInConnection);
  scheduler.start();

  // Plain pino without the production redaction: the api must not log secrets in the first place.
  const capture = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  api = await createApiApp(
    { databaseUrl: database.url, nats: { url: nats.url, ...nats.control }, host: '127.0.0.1', port: 0, logLevel: 'debug' },
    { logger: pino({ level: 'debug' }, capture), busTimeoutMs: 1500 },
  );
});

afterAll(async () => {
  await api?.close();
  await standInConnection?.close();
  await dataSource?.destroy();
  await Promise.all([nats?.stop(), database?.drop()]);
});

async function seedKeys(ds: DataSource): Promise<Keys> {
  const a = await new CreateTenant(ds).execute({ name: 'tenant-a' });
  const b = await new CreateTenant(ds).execute({ name: 'tenant-b' });
  const issue = new IssueApiKey();
  return ds.transaction(async (manager) => {
    const viewer = await issue.execute(manager, { tenantId: a.id, role: 'viewer', name: 'read only' });
    const expired = await issue.execute(manager, { tenantId: a.id, role: 'owner', name: 'expired', expiresAt: new Date(Date.now() - 1000) });
    const revoked = await issue.execute(manager, { tenantId: a.id, role: 'owner', name: 'revoked' });
    await manager.query(`UPDATE "api"."api_keys" SET revoked_at = now() WHERE id = $1`, [revoked.id]);
    const operator = await issue.execute(manager, { tenantId: null, role: 'operator', name: 'ops' });
    issuedKeys.push(a.owner.apiKey, b.owner.apiKey, viewer.plaintext, expired.plaintext, revoked.plaintext, operator.plaintext);
    return {
      tenantA: {
        id: a.id,
        owner: a.owner.apiKey,
        ownerKeyId: a.owner.keyId,
        viewer: viewer.plaintext,
        viewerKeyId: viewer.id,
        expired: expired.plaintext,
        revoked: revoked.plaintext,
      },
      tenantB: { id: b.id, owner: b.owner.apiKey },
      operator: operator.plaintext,
    };
  });
}

interface CallOptions {
  key?: string | null;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
}

async function call(method: string, path: string, options: CallOptions = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers['authorization'] = `Bearer ${options.key}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${api.url}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

/** Asserts an RFC 9457 problem response and returns its body. */
function expectProblem(response: Awaited<ReturnType<typeof call>>, status: number, code: string) {
  expect({ status: response.status, contentType: response.headers.get('content-type') }).toEqual({ status, contentType: 'application/problem+json' });
  const problem = ProblemSchema.parse(response.json);
  expect(problem).toMatchObject({ status, code, type: `https://gureum.dev/problems/${code}` });
  expect(problem.requestId).toBe(response.headers.get('x-request-id'));
  return problem;
}

async function createWorkload(key: string, overrides: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return call('POST', '/v1/workloads', { key, body: { ...SPEC, ...overrides }, headers });
}

/** Raw HTTP for what fetch will not send: declared lengths, chunked bodies without a length. */
function rawRequest(options: { path: string; headers: Record<string, string | number>; chunks: Buffer[] }): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  const url = new URL(api.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: options.path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - started }));
    });
    // The server may answer and stop reading before the body is sent; that is the point.
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    for (const chunk of options.chunks) req.write(chunk);
    req.end();
  });
}

describe('public routes', () => {
  it('GET /v1/health is ok when PostgreSQL and NATS are up', async () => {
    const response = await call('GET', '/v1/health');
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ status: 'ok' });
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('documents exactly the routes Nest registered (OpenAPI route coverage)', async () => {
    const response = await call('GET', '/v1/openapi.json');
    expect(response.status).toBe(200);
    const document = response.json as unknown as OpenApiDocument;
    expect(document.openapi).toBe('3.1.0');

    const documented = Object.entries(document.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const registered = registeredRoutes().sort();
    expect(registered.length).toBeGreaterThanOrEqual(8);
    expect(documented).toEqual(registered);
    expect(API_ROUTES).toHaveLength(registered.length);
  });
});

/** Every (method, path) the Express router holds, in OpenAPI path syntax. */
function registeredRoutes(): string[] {
  type Layer = { route?: { path: string; methods: Record<string, boolean> } };
  const router = (api.app.getHttpAdapter().getInstance() as { router: { stack: Layer[] } }).router;
  const routes = router.stack.flatMap((layer) =>
    layer.route
      ? Object.keys(layer.route.methods)
          .filter((method) => method !== '_all')
          .map((method) => `${method.toUpperCase()} ${layer.route!.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`)
      : [],
  );
  // Sanity check of the introspection itself: it must see a route we know exists.
  expect(routes).toContain(`${RequestMethod[RequestMethod.GET]} /v1/health`);
  return [...new Set(routes)];
}

describe('workloads, forwarded to the scheduler', () => {
  it('creates a workload: 201, Location, the view, and the caller forwarded', async () => {
    const requestId = `create-${randomUUID()}`;
    const response = await createWorkload(keys.tenantA.owner, {}, { 'x-request-id': requestId });
    expect(response.status).toBe(201);
    const view = WorkloadViewSchema.parse(response.json);
    expect(view).toMatchObject({ tenantId: keys.tenantA.id, name: 'web', resources: { cpuMillis: 250, memoryMiB: 64, pids: 256 } });
    expect(response.headers.get('location')).toBe(`/v1/workloads/${view.id}`);
    expect(response.headers.get('x-request-id')).toBe(requestId);

    const forwarded = scheduler.received.find((command) => command.data.caller.requestId === requestId);
    expect(forwarded).toEqual({
      subject: 'scheduler.cmd.workload.create.v1',
      data: {
        caller: { principalId: keys.tenantA.ownerKeyId, tenantId: keys.tenantA.id, role: 'owner', requestId },
        spec: { ...SPEC, resources: { ...SPEC.resources, pids: 256 } },
      },
    });
  });

  it('passes Idempotency-Key through, and the scheduler dedupes on it', async () => {
    const idempotencyKey = `retry-${randomUUID()}`;
    const first = await createWorkload(keys.tenantA.owner, { name: 'idem' }, { 'idempotency-key': idempotencyKey });
    const second = await createWorkload(keys.tenantA.owner, { name: 'idem' }, { 'idempotency-key': idempotencyKey });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.json?.['id']).toBe(first.json?.['id']);
    const forwarded = scheduler.received.filter((command) => command.data['idempotencyKey'] === idempotencyKey);
    expect(forwarded).toHaveLength(2);
  });

  it('rejects an Idempotency-Key over 255 characters without forwarding', async () => {
    const before = scheduler.received.length;
    const response = await createWorkload(keys.tenantA.owner, { name: 'idem-long' }, { 'idempotency-key': 'k'.repeat(256) });
    const problem = expectProblem(response, 400, 'validation_failed');
    expect(problem.detail).toMatch(/Idempotency-Key/);
    expect(scheduler.received.length).toBe(before);
  });

  it('lists, gets, stops, starts and deletes', async () => {
    const created = await createWorkload(keys.tenantA.owner, { name: 'lifecycle' });
    const id = created.json?.['id'] as string;

    const list = await call('GET', '/v1/workloads?limit=20&cursor=abc', { key: keys.tenantA.owner });
    expect(list.status).toBe(200);
    const page = WorkloadPageSchema.parse(list.json);
    expect(page.items.map((w) => w.id)).toContain(id);
    expect(page.items.every((w) => w.tenantId === keys.tenantA.id)).toBe(true);
    expect(scheduler.received.at(-1)?.data).toMatchObject({ limit: 20, cursor: 'abc' });

    const get = await call('GET', `/v1/workloads/${id}`, { key: keys.tenantA.viewer });
    expect(get.status).toBe(200);
    expect(scheduler.received.at(-1)?.data.caller).toMatchObject({ principalId: keys.tenantA.viewerKeyId, role: 'viewer' });

    const stop = await call('POST', `/v1/workloads/${id}/stop`, { key: keys.tenantA.owner });
    expect({ status: stop.status, desiredState: stop.json?.['desiredState'] }).toEqual({ status: 202, desiredState: 'stopped' });
    const start = await call('POST', `/v1/workloads/${id}/start`, { key: keys.tenantA.owner });
    expect({ status: start.status, desiredState: start.json?.['desiredState'] }).toEqual({ status: 202, desiredState: 'running' });
    const remove = await call('DELETE', `/v1/workloads/${id}`, { key: keys.tenantA.owner });
    expect({ status: remove.status, desiredState: remove.json?.['desiredState'] }).toEqual({ status: 202, desiredState: 'deleted' });
    expect(scheduler.received.slice(-3).map((c) => c.subject)).toEqual([
      'scheduler.cmd.workload.stop.v1',
      'scheduler.cmd.workload.start.v1',
      'scheduler.cmd.workload.delete.v1',
    ]);
  });

  it("gives tenant B 404 for tenant A's workload", async () => {
    const created = await createWorkload(keys.tenantA.owner, { name: 'private' });
    const id = created.json?.['id'] as string;
    for (const [method, path] of [
      ['GET', `/v1/workloads/${id}`],
      ['POST', `/v1/workloads/${id}/stop`],
      ['DELETE', `/v1/workloads/${id}`],
    ] as const) {
      expectProblem(await call(method, path, { key: keys.tenantB.owner }), 404, 'not_found');
    }
    expect(scheduler.forTenant(keys.tenantB.id).every((c) => c.data.caller.tenantId === keys.tenantB.id)).toBe(true);
    expect(scheduler.forTenant(keys.tenantB.id)).toHaveLength(3);
  });

  it('maps scheduler errors: image_unknown 422, invalid_state 409, no reply 504, no scheduler 503', async () => {
    expectProblem(await createWorkload(keys.tenantA.owner, { name: NAME_UNKNOWN_IMAGE }), 422, 'image_unknown');
    const running = await createWorkload(keys.tenantA.owner, { name: 'running' });
    expectProblem(await call('POST', `/v1/workloads/${String(running.json?.['id'])}/start`, { key: keys.tenantA.owner }), 409, 'invalid_state');
    expectProblem(await createWorkload(keys.tenantA.owner, { name: NAME_SLOW }), 504, 'timeout');

    await scheduler.stop();
    try {
      expectProblem(await call('GET', '/v1/workloads', { key: keys.tenantA.owner }), 503, 'unavailable');
    } finally {
      scheduler.start();
      await standInConnection.flush();
    }
  });
});

describe('authentication and authorisation', () => {
  it.each([
    ['no Authorization header', undefined],
    ['a non-bearer scheme', 'Basic dXNlcjpwYXNz'],
    ['a malformed key', 'Bearer not-a-key'],
  ])('answers 401 with WWW-Authenticate for %s', async (_case, authorization) => {
    const response = await call('GET', '/v1/workloads', { headers: authorization ? { authorization } : {} });
    expectProblem(response, 401, 'unauthenticated');
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="gureum"');
  });

  it('answers 401 for a wrong secret, an unknown prefix, an expired key and a revoked key', async () => {
    const [, prefix] = /^grm_([a-z0-9]{12})_/.exec(keys.tenantA.owner)!;
    const wrongSecret = `grm_${prefix}_${'A'.repeat(43)}`;
    const unknownPrefix = `grm_zzzzzzzzzzzz_${keys.tenantA.owner.slice(-43)}`;
    const details: string[] = [];
    for (const key of [wrongSecret, unknownPrefix, keys.tenantA.expired, keys.tenantA.revoked]) {
      const response = await call('GET', '/v1/workloads', { key });
      details.push(expectProblem(response, 401, 'unauthenticated').detail);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="gureum"');
    }
    expect(details).toEqual(['the API key is not valid', 'the API key is not valid', 'the API key has expired', 'the API key has been revoked']);
  });

  it('lets a viewer read but not write (403 on every write)', async () => {
    const created = await createWorkload(keys.tenantA.owner, { name: 'viewed' });
    const id = created.json?.['id'] as string;
    const before = scheduler.received.length;
    expectProblem(await createWorkload(keys.tenantA.viewer, { name: 'by-viewer' }), 403, 'forbidden');
    expectProblem(await call('POST', `/v1/workloads/${id}/stop`, { key: keys.tenantA.viewer }), 403, 'forbidden');
    expectProblem(await call('POST', `/v1/workloads/${id}/start`, { key: keys.tenantA.viewer }), 403, 'forbidden');
    expectProblem(await call('DELETE', `/v1/workloads/${id}`, { key: keys.tenantA.viewer }), 403, 'forbidden');
    expect(scheduler.received.length).toBe(before);
    expect((await call('GET', '/v1/workloads', { key: keys.tenantA.viewer })).status).toBe(200);
  });

  it('refuses operator keys on tenant routes: they have no tenant', async () => {
    const before = scheduler.received.length;
    const problem = expectProblem(await call('GET', '/v1/workloads', { key: keys.operator }), 403, 'forbidden');
    expect(problem.detail).toMatch(/operators have no tenant/);
    expectProblem(await createWorkload(keys.operator), 403, 'forbidden');
    expect(scheduler.received.length).toBe(before);
  });

  it('records last use of a key', async () => {
    const fresh = await dataSource.transaction((manager) => new IssueApiKey().execute(manager, { tenantId: keys.tenantB.id, role: 'member', name: 'fresh' }));
    issuedKeys.push(fresh.plaintext);
    const lastUsedAt = async () =>
      ((await dataSource.query(`SELECT last_used_at FROM "api"."api_keys" WHERE id = $1`, [fresh.id])) as Array<{ last_used_at: Date | null }>)[0]!.last_used_at;
    expect(await lastUsedAt()).toBeNull();
    expect((await call('GET', '/v1/workloads', { key: fresh.plaintext })).status).toBe(200);
    const recorded = await waitFor(async () => (await lastUsedAt()) ?? undefined, { timeoutMs: 5000, what: 'last_used_at to be recorded' });
    expect(Math.abs(Date.now() - recorded.getTime())).toBeLessThan(10_000);
  });

  it('lets a suspended tenant read but refuses its writes with 403, before anything reaches the scheduler', async () => {
    const suspended = await new CreateTenant(dataSource).execute({ name: 'suspended-co' });
    issuedKeys.push(suspended.owner.apiKey);
    await dataSource.query(`UPDATE "api"."tenants" SET status = 'suspended' WHERE id = $1`, [suspended.id]);
    expect((await call('GET', '/v1/workloads', { key: suspended.owner.apiKey })).status).toBe(200);
    const problem = expectProblem(await createWorkload(suspended.owner.apiKey), 403, 'forbidden');
    expect(problem.detail).toMatch(/the tenant is suspended/);
    expect(scheduler.forTenant(suspended.id).map((command) => command.subject)).toEqual(['scheduler.cmd.workload.list.v1']);
  });
});

describe('bad input is refused at the edge with problem+json', () => {
  it('malformed JSON → 400', async () => {
    const problem = expectProblem(await call('POST', '/v1/workloads', { key: keys.tenantA.owner, rawBody: '{"name": "web",', headers: { 'content-type': 'application/json' } }), 400, 'validation_failed');
    expect(problem.detail).toBe('the request body is not valid JSON');
  });

  it('non-JSON content type → 415, before authentication reads anything', async () => {
    expectProblem(await call('POST', '/v1/workloads', { key: keys.tenantA.owner, rawBody: 'name=web', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    expectProblem(await call('POST', '/v1/workloads', { key: keys.tenantA.owner, rawBody: JSON.stringify(SPEC), headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
  });

  it('unknown body fields → 400 naming them', async () => {
    const before = scheduler.received.length;
    const problem = expectProblem(await createWorkload(keys.tenantA.owner, { privileged: true, hostNetwork: true }), 400, 'validation_failed');
    expect(problem.detail).toMatch(/privileged/);
    expect(problem.detail).toMatch(/hostNetwork/);
    expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ message: expect.stringContaining('privileged') })]));
    expect(scheduler.received.length).toBe(before);
  });

  it('invalid field values → 400 with the field paths', async () => {
    const problem = expectProblem(await createWorkload(keys.tenantA.owner, { name: 'Not A DNS Label', resources: { cpuMillis: 0, memoryMiB: 64 } }), 400, 'validation_failed');
    expect(problem.errors?.map((e) => e.path).sort()).toEqual(['name', 'resources.cpuMillis']);
  });

  it('a missing body → 400', async () => {
    expectProblem(await call('POST', '/v1/workloads', { key: keys.tenantA.owner }), 400, 'validation_failed');
  });

  it('a 10 MB body → 413, fast, without reading it', async () => {
    const tenMegabytes = Buffer.alloc(10 * 1024 * 1024, 0x20);
    const response = await rawRequest({
      path: '/v1/workloads',
      headers: { 'content-type': 'application/json', 'content-length': tenMegabytes.length, authorization: `Bearer ${keys.tenantA.owner}` },
      chunks: [tenMegabytes],
    });
    expect(response.status).toBe(413);
    expect(ProblemSchema.parse(JSON.parse(response.body))).toMatchObject({ code: 'payload_too_large' });
    expect(response.ms).toBeLessThan(2000);
  });

  it('a chunked body over 1 MiB without a declared length → 413', async () => {
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const response = await rawRequest({
      path: '/v1/workloads',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', authorization: `Bearer ${keys.tenantA.owner}` },
      chunks: Array.from({ length: 8 }, () => chunk),
    });
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({ code: 'payload_too_large' });
  });

  it('a malformed :id → 400 before anything reaches the scheduler', async () => {
    const before = scheduler.received.length;
    for (const [method, path] of [
      ['GET', '/v1/workloads/not-a-uuid'],
      ['POST', '/v1/workloads/123/stop'],
      ['POST', "/v1/workloads/'%20OR%201=1/start"],
      ['DELETE', '/v1/workloads/00000000-0000-0000-0000-00000000000g'],
    ] as const) {
      const problem = expectProblem(await call(method, path, { key: keys.tenantA.owner }), 400, 'validation_failed');
      expect(problem.errors).toEqual([{ path: 'id', message: 'must be a workload id (a UUID)' }]);
    }
    expect(scheduler.received.length).toBe(before);
  });

  it.each(['limit=0', 'limit=501', 'limit=ten', 'limit=1&limit=2', 'sort=name'])('an invalid query (%s) → 400', async (query) => {
    expectProblem(await call('GET', `/v1/workloads?${query}`, { key: keys.tenantA.owner }), 400, 'validation_failed');
  });

  it('unknown routes and methods → 404 problem', async () => {
    const unknown = expectProblem(await call('GET', '/v1/nothing-here'), 404, 'not_found');
    expect(unknown).toMatchObject({ instance: '/v1/nothing-here', detail: 'no route matches GET /v1/nothing-here' });
    expectProblem(await call('PUT', '/v1/workloads', { key: keys.tenantA.owner }), 404, 'not_found');
    expectProblem(await call('GET', '/'), 404, 'not_found');
  });
});

describe('request ids', () => {
  it('echoes a sane X-Request-Id, on errors too, and replaces an insane one', async () => {
    expect((await call('GET', '/v1/health', { headers: { 'x-request-id': 'abc.DEF_123-x' } })).headers.get('x-request-id')).toBe('abc.DEF_123-x');
    const problem = expectProblem(await call('GET', '/v1/workloads', { headers: { 'x-request-id': 'trace-401' } }), 401, 'unauthenticated');
    expect(problem.requestId).toBe('trace-401');
    const replaced = await call('GET', '/v1/health', { headers: { 'x-request-id': 'x'.repeat(129) } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('secrets', () => {
  const allKeys = () => issuedKeys;
  const secretOf = (key: string) => key.slice(-43);

  it('stores API keys only hashed', async () => {
    const client = new Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ row: string; secret_hash: string; prefix: string }>(
        `SELECT row_to_json(k)::text AS row, secret_hash, prefix FROM "api"."api_keys" k`,
      );
      expect(rows.length).toBeGreaterThanOrEqual(8);
      expect(rows).toHaveLength(allKeys().length);
      const table = rows.map((r) => r.row).join('\n');
      for (const key of allKeys()) {
        expect(table).not.toContain(secretOf(key));
        expect(table).not.toContain(secretOf(key).slice(0, 16));
        expect(table).toContain(key.slice(4, 16)); // the prefix is stored, so the row can be found
      }
      for (const row of rows) expect(row.secret_hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    } finally {
      await client.end();
    }
  });

  it('never logs a secret or the Authorization header, and logs one line per request', async () => {
    const requestId = `logged-${randomUUID()}`;
    await call('GET', '/v1/workloads', { key: keys.tenantA.owner, headers: { 'x-request-id': requestId } });
    const line = await waitFor(async () => logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['requestId'] === requestId && l['msg'] === 'request'), {
      timeoutMs: 2000,
      what: 'the access log line',
    });
    expect(line).toMatchObject({ method: 'GET', path: '/v1/workloads', status: 200, tenantId: keys.tenantA.id, keyId: keys.tenantA.ownerKeyId });
    expect(typeof line['ms']).toBe('number');
    expect(logLines.filter((l) => l.includes(requestId))).toHaveLength(1);

    const everything = logLines.join('\n');
    expect(logLines.length).toBeGreaterThan(50);
    for (const key of allKeys()) expect(everything).not.toContain(secretOf(key));
    expect(everything.toLowerCase()).not.toContain('bearer ');
    expect(everything.toLowerCase()).not.toContain('authorization');
  });
});

// Last: it takes NATS away from everything above.
describe('readiness', () => {
  it('GET /v1/health answers 503 problem+json once NATS is gone', async () => {
    await standInConnection.close();
    await nats.stop();
    const response = await waitFor(
      async () => {
        const health = await call('GET', '/v1/health');
        return health.status === 503 ? health : undefined;
      },
      { timeoutMs: 10_000, what: 'health to report NATS down' },
    );
    expect(expectProblem(response, 503, 'unavailable').detail).toMatch(/NATS/);
  });
});
