import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { migrate } from '@gureum/database';
import { ensureEventsStream } from '@gureum/messaging';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import { createApiApp, type ApiApp } from '../app/api-app';
import { IssueApiKey } from '../auth/issue-api-key.usecase';
import { API_SCHEMA, createApiDataSource } from '../database/api-data-source';
import { CreateTenant } from '../tenants/create-tenant.usecase';

let database: TestDatabase;
let nats: TestNats;
let dataSource: DataSource;
let publisher: NatsConnection;
let api: ApiApp;
let tenantA: { id: string; key: string };
let tenantB: { id: string; key: string };
let operatorKey: string;

function stateChange(tenantId: string, to = 'running'): Record<string, unknown> {
  return { eventId: randomUUID(), workloadId: randomUUID(), tenantId, hostId: 'node-1', from: 'starting', to, reason: null, generation: 1, at: new Date().toISOString() };
}

async function publish(subject: string, payload: unknown): Promise<void> {
  await jetstream(publisher).publish(subject, typeof payload === 'string' ? payload : JSON.stringify(payload));
}

/** The raw text of a stream, read until `until` holds for it or the test gives up. */
async function readStream(key: string, until: (text: string) => boolean, act: () => Promise<void>): Promise<string> {
  const controller = new AbortController();
  const response = await fetch(`${api.url}/v1/events/stream`, { headers: { authorization: `Bearer ${key}` }, signal: controller.signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  // The first bytes say the consumer exists: only then is it certain to see what is published next.
  while (!text.includes(': connected')) text += (await reader.read()).value ?? '';
  await act();
  try {
    await waitFor(
      async () => {
        if (until(text)) return true;
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended early: ${text}`);
        text += value;
        return until(text) ? true : undefined;
      },
      { timeoutMs: 15_000, what: 'the expected events on the stream' },
    );
  } finally {
    controller.abort();
  }
  return text;
}

const dataLines = (text: string) => text.split('\n').filter((line) => line.startsWith('data: ')).map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>);

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('api_events'), startNats({ agents: [] })]);
  dataSource = createApiDataSource(database.url, 'api-events-test');
  await dataSource.initialize();
  await migrate(dataSource, API_SCHEMA);
  const a = await new CreateTenant(dataSource).execute({ name: 'stream-a' });
  const b = await new CreateTenant(dataSource).execute({ name: 'stream-b' });
  tenantA = { id: a.id, key: a.owner.apiKey };
  tenantB = { id: b.id, key: b.owner.apiKey };
  operatorKey = (await dataSource.transaction((manager) => new IssueApiKey().execute(manager, { tenantId: null, role: 'operator', name: 'ops' }))).plaintext;
  publisher = await connect({ servers: nats.url, user: nats.control.user, pass: nats.control.password, name: 'events-publisher' });
  // The scheduler creates the stream in production.
  await ensureEventsStream(publisher);
  api = await createApiApp({ databaseUrl: database.url, nats: { url: nats.url, ...nats.control }, host: '127.0.0.1', port: 0, logLevel: 'silent' }, { logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await api?.close();
  await publisher?.close();
  await dataSource?.destroy();
  await Promise.all([nats?.stop(), database?.drop()]);
});

describe('GET /v1/events/stream', () => {
  it("gives a tenant its own workloads' transitions only, never host facts, and drops invalid facts", async () => {
    const own = stateChange(tenantA.id);
    const text = await readStream(
      tenantA.key,
      (received) => received.includes(String(own['eventId'])),
      async () => {
        await publish('evt.workload.state.v1', stateChange(tenantB.id));
        await publish('evt.workload.state.v1', '{"not":"a state change"}');
        await publish('evt.host.state.v1', { hostId: 'node-1', state: 'cordoned' });
        await publish('evt.workload.state.v1', own);
      },
    );
    expect(dataLines(text)).toEqual([own]);
    expect(text).toMatch(/^retry: 3000\n\n: connected\n\n/);
    expect(text).toMatch(/id: [0-9]+\nevent: workload\ndata: /);
  });

  it('gives operators every tenant and the host facts', async () => {
    const [forA, forB, host] = [stateChange(tenantA.id, 'stopped'), stateChange(tenantB.id, 'failed'), { hostId: 'node-2', state: 'draining' }];
    const text = await readStream(
      operatorKey,
      (received) => received.includes('node-2'),
      async () => {
        await publish('evt.workload.state.v1', forA);
        await publish('evt.workload.state.v1', forB);
        await publish('evt.host.state.v1', host);
      },
    );
    expect(dataLines(text)).toEqual([forA, forB, host]);
    expect(text).toContain('event: host\n');
  });

  it('refuses a missing credential and a bad maxSeconds with problems, before streaming anything', async () => {
    expect((await fetch(`${api.url}/v1/events/stream`)).status).toBe(401);
    const bad = await fetch(`${api.url}/v1/events/stream?maxSeconds=100000`, { headers: { authorization: `Bearer ${tenantA.key}` } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
  });

  it('ends after maxSeconds, and on shutdown without waiting for the client', async () => {
    const short = await fetch(`${api.url}/v1/events/stream?maxSeconds=1`, { headers: { authorization: `Bearer ${tenantB.key}` } });
    expect(await short.text()).toContain(': connected');

    const open = await fetch(`${api.url}/v1/events/stream`, { headers: { authorization: `Bearer ${tenantB.key}` } });
    const body = open.text();
    const closing = api.close();
    // Without the shutdown hook the server would wait up to 15 minutes for this stream.
    await waitFor(async () => ((await Promise.race([closing.then(() => true), new Promise((resolve) => setTimeout(() => resolve(undefined), 200))])) ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the api to close with a stream open',
    });
    expect(await body).toContain(': connected');
  });
});
