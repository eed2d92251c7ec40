import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { OperatorCaller } from '@gureum/contracts';
import { Bus, connectNats, type NatsConnection } from '@gureum/messaging';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { nkeys } from '@nats-io/transport-node';
import { FakeAgent } from '../../testing/fake-agent';
import { startSchedulerUnderTest, type SchedulerUnderTest } from '../../testing/scheduler-under-test';

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
const opened: NatsConnection[] = [];

const operator = (): OperatorCaller => ({ principalId: 'ops-1', role: 'operator', requestId: randomUUID() });
const joinToken = (nodeId?: string) =>
  scheduler.api.request('scheduler.cmd.host.jointoken.create.v1', { caller: operator(), ttlSeconds: 600, ...(nodeId ? { nodeId } : {}) });

/** What the agent does with GUREUM_JOIN_TOKEN (apps/agent/src/enrolment): connect as `enrol`, present the token and its public key. */
async function presentToken(token: string, nodeId: string, publicKey: string) {
  const enrolment = nats.enrolment!;
  const nc = await connectNats({ url: nats.url, name: `enrol-${nodeId}`, user: enrolment.user.user, password: enrolment.user.password, inboxPrefix: enrolment.user.inboxPrefix });
  opened.push(nc);
  return new Bus(nc, 10_000).request('enrol.req.agent.credentials.v1', { token, nodeId, publicKey });
}

function newKey() {
  const pair = nkeys.createUser();
  return { publicKey: pair.getPublicKey(), seed: new TextDecoder().decode(pair.getSeed()) };
}

async function connectAs(seed: string, nodeId: string): Promise<NatsConnection> {
  const nc = await connectNats({ url: nats.url, name: `agent-${nodeId}`, nkeySeed: seed, inboxPrefix: `_INBOX.agent-${nodeId}` });
  opened.push(nc);
  return nc;
}

/** The error a connection reports for the next permission violation. */
function nextViolation(nc: NatsConnection): Promise<string> {
  return (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error') return String((status as { error?: unknown }).error);
    }
    return 'closed';
  })();
}

beforeAll(async () => {
  database = await createTestDatabase('scheduler_enrolment');
  nats = await startNats({ agents: ['static-b'], enrolment: true });
  const { baseFile, authFile, pidFile, monitorUrl } = nats.enrolment!;
  scheduler = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, heartbeatIntervalMs: 200, natsAuth: { baseFile, authFile, pidFile, monitorUrl } });
});

afterAll(async () => {
  for (const nc of opened) await nc.close().catch(() => undefined);
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

it('turns a join token into credentials that only allow the agent its own subjects, once', async () => {
  const { token, expiresAt } = await joinToken('new-a');
  expect(new Date(expiresAt).getTime()).toBeGreaterThan(Date.now());
  // Only the hash is stored.
  const stored = await scheduler.db.query(`SELECT token_hash FROM scheduler.join_tokens`);
  expect(JSON.stringify(stored.rows)).not.toContain(token);

  const key = newKey();
  // Unknown before enrolment: the server refuses the key.
  await expect(connectAs(key.seed, 'new-a')).rejects.toThrow(/Authorization Violation/i);

  expect(await presentToken(token, 'new-a', key.publicKey)).toEqual({ nodeId: 'new-a', inboxPrefix: '_INBOX.agent-new-a' });

  // Its own subjects work end to end: a heartbeat registers the host, assignments answer.
  const agent = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'new-a', credentials: { nkeySeed: key.seed, inboxPrefix: '_INBOX.agent-new-a' } });
  try {
    await agent.heartbeat();
    await waitFor(async () => (await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE id = 'new-a'`)).rowCount === 1, { timeoutMs: 5000, what: 'new-a registered' });
    expect(await agent.assignments()).toEqual({ nodeId: 'new-a', assignments: [] });
  } finally {
    await agent.close();
  }

  // Another agent's subjects: subscribing is refused, publishing is dropped.
  const enrolled = await connectAs(key.seed, 'new-a');
  const violation = nextViolation(enrolled);
  enrolled.subscribe('agent.static-b.>');
  expect(await violation).toMatch(/Permissions Violation for Subscription to "agent\.static-b\.>"/);
  const control = await connectNats({ url: nats.url, name: 'control-watch', ...nats.control });
  opened.push(control);
  const seen: string[] = [];
  control.subscribe('agent.static-b.>', { callback: (_error, message) => void seen.push(message.subject) });
  await control.flush();
  const publishViolation = nextViolation(enrolled);
  enrolled.publish('agent.static-b.evt.heartbeat.v1', 'spoofed');
  expect(await publishViolation).toMatch(/Permissions Violation for Publish to "agent\.static-b\.evt\.heartbeat\.v1"/);
  await control.flush();
  expect(seen).toEqual([]);

  // The token is spent: presenting it again (even with another key) is refused.
  await expect(presentToken(token, 'new-a', newKey().publicKey)).rejects.toMatchObject({ code: 'forbidden' });
  // The static agents still work after the reloads.
  const staticAgent = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'static-b', credentials: nats.agent('static-b') });
  expect((await staticAgent.assignments()).nodeId).toBe('static-b');
  await staticAgent.close();
});

it('refuses a token pinned to another node, an unknown token, and lets the enrol user do nothing else', async () => {
  const { token } = await joinToken('pinned-c');
  await expect(presentToken(token, 'other-d', newKey().publicKey)).rejects.toMatchObject({ code: 'forbidden' });
  await expect(presentToken(`gjt_${'x'.repeat(43)}`, 'other-d', newKey().publicKey)).rejects.toMatchObject({ code: 'forbidden' });
  // The refused attempt did not spend the pinned token.
  const key = newKey();
  await expect(presentToken(token, 'pinned-c', key.publicKey)).resolves.toMatchObject({ nodeId: 'pinned-c' });

  const enrolment = nats.enrolment!;
  const nc = await connectNats({ url: nats.url, name: 'enrol-snoop', user: enrolment.user.user, password: enrolment.user.password, inboxPrefix: enrolment.user.inboxPrefix });
  opened.push(nc);
  const violation = nextViolation(nc);
  nc.subscribe('agent.pinned-c.>');
  expect(await violation).toMatch(/Permissions Violation for Subscription/);
});

it('revokes the credentials of a decommissioned host', async () => {
  const { token } = await joinToken('retire-e');
  const key = newKey();
  await presentToken(token, 'retire-e', key.publicKey);
  const agent = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'retire-e', credentials: { nkeySeed: key.seed, inboxPrefix: '_INBOX.agent-retire-e' } });
  await agent.heartbeat();
  await waitFor(async () => (await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE id = 'retire-e'`)).rowCount === 1, { timeoutMs: 5000, what: 'retire-e registered' });
  await agent.close();
  await scheduler.api.request('scheduler.cmd.host.action.v1', { caller: operator(), hostId: 'retire-e', action: 'decommission' });
  // The broker refuses the key once its reloaded authorization no longer lists it. A dial that
  // times out (a loaded machine, a reload in progress) proves nothing either way: try again.
  const refusal = await waitFor(
    async () => {
      try {
        const nc = await connectAs(key.seed, 'retire-e');
        await nc.close();
        throw new Error('a decommissioned host could still connect');
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (/Authorization Violation/i.test(message)) return message;
        if (/could still connect/.test(message)) throw error;
        return undefined;
      }
    },
    { timeoutMs: 60_000, what: 'the decommissioned key refused' },
  );
  expect(refusal).toMatch(/Authorization Violation/i);
}, 120_000);

it('restores enrolled agents in the broker authorization when a scheduler starts (the deploy may have rewritten it)', async () => {
  const { token } = await joinToken('survivor-f');
  const key = newKey();
  await presentToken(token, 'survivor-f', key.publicKey);
  // The deploy regenerates the file from its static users only, and reloads.
  const { baseFile, authFile, pidFile, monitorUrl } = nats.enrolment!;
  const base = await readFile(baseFile, 'utf8');
  await writeFile(authFile, `authorization {\n  users = [\n${base}\n  ]\n}\n`, { mode: 0o600 });
  process.kill(Number((await readFile(pidFile, 'utf8')).trim()), 'SIGHUP');
  await waitFor(async () => connectAs(key.seed, 'survivor-f').then(() => false, () => true), { timeoutMs: 5000, what: 'the key refused after the rewrite' });

  const second = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, natsAuth: { baseFile, authFile, pidFile, monitorUrl } });
  try {
    const nc = await connectAs(key.seed, 'survivor-f');
    expect(nc.isClosed()).toBe(false);
  } finally {
    await second.close();
  }
});
