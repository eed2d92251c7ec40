/**
 * Issue 21: `GET /v1/events/stream` across a NATS restart, and its consumer's life on the
 * server. nats-server goes away for 12 s (its JetStream store kept) while three streams are
 * open: a tenant stream that had delivered nothing yet, a tenant stream that had delivered
 * events, and an operator stream. Afterwards each must get only events newer than what it
 * had (or than the stream's tail when it opened) — none from history, none twice. And a
 * stream's JetStream consumer must be deleted when its client goes away.
 */
import http from 'node:http';
import { EVENTS_STREAM } from '@gureum/contracts';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec } from '../support/api-client';
import { System } from '../support/system';

const system = new System({ label: 'fault-event-stream', agentCapacity: { cpuMillis: 4000, memoryMiB: 2048, pids: 4096 } });
let operatorKey: string;
let quiet: { key: string; client: ApiClient };
let busy: { key: string; client: ApiClient };

interface SseEvent {
  id: number;
  event: string;
  data: { workloadId?: string; to?: string };
}

interface OpenStream {
  events: SseEvent[];
  isOpen(): boolean;
  close(): void;
}

function openStream(token: string): Promise<OpenStream> {
  const url = new URL('/v1/events/stream', system.apiUrl);
  return new Promise((resolve, reject) => {
    let open = true;
    const events: SseEvent[] = [];
    const request = http.get({ host: url.hostname, port: url.port, path: url.pathname, agent: false, headers: { authorization: `Bearer ${token}` } }, (response) => {
      if (response.statusCode !== 200) return reject(new Error(`event stream answered ${response.statusCode}`));
      response.on('close', () => {
        open = false;
      });
      let buffer = '';
      response.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith(': connected')) resolve({ events, isOpen: () => open, close: () => request.destroy() });
          const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
          if (fields['id'] !== undefined && fields['data'] !== undefined) events.push({ id: Number(fields['id']), event: fields['event'] ?? '', data: JSON.parse(fields['data']) as SseEvent['data'] });
        }
      });
    });
    request.on('error', (error) => (open ? reject(error) : undefined));
  });
}

interface JszConsumer {
  name: string;
  config?: { filter_subject?: string; filter_subjects?: string[] };
}
interface JszStream {
  name: string;
  state?: { last_seq?: number };
  consumer_detail?: JszConsumer[];
}

/** The EVENTS stream as nats-server's own monitoring endpoint reports it (no client library in between). */
async function eventsStream(): Promise<JszStream> {
  const res = await fetch(`${system.natsMonitorUrl()}/jsz?accounts=true&streams=true&consumers=true&config=true`);
  const body = (await res.json()) as { account_details?: Array<{ stream_detail?: JszStream[] }> };
  const stream = (body.account_details ?? []).flatMap((account) => account.stream_detail ?? []).find((candidate) => candidate.name === EVENTS_STREAM);
  if (!stream) throw new Error(`no ${EVENTS_STREAM} stream in /jsz: ${JSON.stringify(body).slice(0, 500)}`);
  return stream;
}

/** Consumers of the stream that deliver tenant workload events (what a tenant's event stream creates). */
async function workloadFeedConsumers(): Promise<string[]> {
  const stream = await eventsStream();
  return (stream.consumer_detail ?? [])
    .filter((consumer) => [consumer.config?.filter_subject, ...(consumer.config?.filter_subjects ?? [])].includes('evt.workload.state.v1'))
    .map((consumer) => consumer.name);
}

async function createRunning(client: ApiClient, name: string): Promise<string> {
  // Right after the outage the scheduler may still be reconnecting (503): retry under one Idempotency-Key.
  const key = `${name}-${Date.now()}`;
  const id = await waitFor(
    async () => {
      const created = await client.createWorkload(containerSpec(name, { resources: { cpuMillis: 100, memoryMiB: 32, pids: 32 } }), { 'idempotency-key': key });
      if (created.status === 503 || created.status === 504) return undefined;
      expect(created.status).toBe(201);
      return created.body.id;
    },
    { timeoutMs: 60_000, what: `workload ${name} created` },
  );
  await waitFor(async () => ((await client.getWorkload(id)).body.state === 'running' ? true : undefined), { timeoutMs: 60_000, what: `workload ${name} running` });
  return id;
}

async function tenant(name: string): Promise<{ key: string; client: ApiClient }> {
  const created = await system.createTenant(name);
  return { key: created.apiKey, client: new ApiClient(system.apiUrl, created.apiKey) };
}

function expectOrderedWithoutRepeats(events: SseEvent[]): void {
  const ids = events.map((event) => event.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort((a, b) => a - b)).toEqual(ids);
}

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  operatorKey = await system.createOperatorKey('fault-event-stream-ops');
  quiet = await tenant('events-quiet');
  busy = await tenant('events-busy');
  // History: events of both tenants before any stream opens.
  await createRunning(quiet.client, 'history-q');
  await createRunning(busy.client, 'history-b');
}, 180_000);

afterAll(async () => {
  await system.stop();
}, 60_000);

it("deletes a stream's consumer on the server when its client goes away", async () => {
  const before = await workloadFeedConsumers();
  const stream = await openStream(quiet.key);
  const during = await waitFor(
    async () => {
      const now = (await workloadFeedConsumers()).filter((name) => !before.includes(name));
      return now.length > 0 ? now : undefined;
    },
    { timeoutMs: 10_000, what: 'the open stream’s consumer on the server' },
  );
  stream.close();
  await waitFor(
    async () => {
      const left = (await workloadFeedConsumers()).filter((name) => during.includes(name));
      return left.length === 0 ? true : undefined;
    },
    { timeoutMs: 15_000, what: `consumer ${during.join(', ')} deleted after the client went away` },
  );
});

it('after NATS is down for 12 s, open streams get only new events: none from history, none twice', async () => {
  const delivering = await openStream(busy.key);
  const operator = await openStream(operatorKey);

  // The busy tenant's stream (and the operator's) deliver events before the outage.
  const beforeId = await createRunning(busy.client, 'before-outage');
  await waitFor(async () => (delivering.events.some((event) => event.data.workloadId === beforeId && event.data.to === 'running') ? true : undefined), {
    timeoutMs: 30_000,
    what: 'the busy stream to deliver the running event before the outage',
  });
  await waitFor(async () => (operator.events.some((event) => event.data.workloadId === beforeId && event.data.to === 'running') ? true : undefined), {
    timeoutMs: 30_000,
    what: 'the operator stream to deliver the running event before the outage',
  });
  // The quiet one opens after the last workload event: its consumer delivers nothing before the outage.
  const tailAtOpen = (await eventsStream()).state?.last_seq ?? 0;
  expect(tailAtOpen).toBeGreaterThan(0);
  const undelivered = await openStream(quiet.key);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(undelivered.events).toEqual([]);
  const busyBefore = delivering.events.length;
  const operatorBefore = operator.events.length;
  const lastBusyId = Math.max(...delivering.events.map((event) => event.id));
  const lastOperatorId = Math.max(...operator.events.map((event) => event.id));

  await system.restartNats(12_000);
  await waitFor(async () => ((await fetch(`${system.apiUrl}/v1/health`).catch(() => null))?.ok ? true : undefined), { timeoutMs: 60_000, what: 'api healthy after the NATS restart' });

  // New events for both tenants; each stream must get them.
  const quietNew = await createRunning(quiet.client, 'after-outage-q');
  const busyNew = await createRunning(busy.client, 'after-outage-b');
  for (const [stream, id, what] of [
    [undelivered, quietNew, 'quiet'],
    [delivering, busyNew, 'busy'],
    [operator, busyNew, 'operator'],
    [operator, quietNew, 'operator'],
  ] as const) {
    await waitFor(async () => (stream.events.some((event) => event.data.workloadId === id && event.data.to === 'running') ? true : undefined), {
      timeoutMs: 60_000,
      what: `the ${what} stream to deliver workload ${id} running after the outage`,
    });
  }
  for (const stream of [undelivered, delivering, operator]) expect(stream.isOpen()).toBe(true);

  // The quiet stream: nothing older than the tail it opened at (the replay went back to seq 1).
  expect(undelivered.events.filter((event) => event.id <= tailAtOpen)).toEqual([]);
  // The others: after the outage only ids after the last one delivered before it.
  expect(delivering.events.slice(busyBefore).filter((event) => event.id <= lastBusyId)).toEqual([]);
  expect(operator.events.slice(operatorBefore).filter((event) => event.id <= lastOperatorId)).toEqual([]);
  for (const stream of [undelivered, delivering, operator]) expectOrderedWithoutRepeats(stream.events);

  for (const stream of [undelivered, delivering, operator]) stream.close();
}, 240_000);
