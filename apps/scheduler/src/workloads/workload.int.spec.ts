import { randomUUID } from 'node:crypto';
import { GureumError, type WorkloadView } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { FakeAgent, observedTask } from '../testing/fake-agent';
import { callerOf, readStateEvents, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';

const IMAGE = 'gureum/busybox:latest';
const TENANT_A = randomUUID();
const TENANT_B = randomUUID();
const spec = (name: string, overrides: Record<string, unknown> = {}) => ({
  name,
  kind: 'container' as const,
  image: IMAGE,
  resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 },
  ...overrides,
});

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
let nodeA: FakeAgent;
let nodeB: FakeAgent;

async function expectError(promise: Promise<unknown>, code: string, message?: RegExp): Promise<GureumError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GureumError);
  expect((error as GureumError).code).toBe(code);
  if (message) expect((error as GureumError).message).toMatch(message);
  return error as GureumError;
}

async function hostRow(id: string) {
  const { rows } = await scheduler.db.query<{ allocated_cpu_millis: number; allocated_memory_mib: number; allocated_pids: number; generation: number; state: string }>(
    `SELECT allocated_cpu_millis, allocated_memory_mib, allocated_pids, generation, state FROM scheduler.hosts WHERE id = $1`,
    [id],
  );
  return rows[0];
}

async function claimOf(workloadId: string) {
  const { rows } = await scheduler.db.query(`SELECT host_id, cpu_millis, memory_mib, pids FROM scheduler.claims WHERE workload_id = $1`, [workloadId]);
  return rows[0] ?? null;
}

function get(workloadId: string, tenantId = TENANT_A): Promise<WorkloadView> {
  return scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(tenantId), workloadId });
}

function create(name: string, overrides: Record<string, unknown> = {}, tenantId = TENANT_A): Promise<WorkloadView> {
  return scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(tenantId), spec: spec(name, overrides) });
}

beforeAll(async () => {
  database = await createTestDatabase('scheduler_workloads');
  nats = await startNats({ agents: ['node-a', 'node-b'] });
  scheduler = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, heartbeatIntervalMs: 1000, hostLostAfterMissed: 5 });
  nodeA = await FakeAgent.connect({
    natsUrl: nats.url,
    nodeId: 'node-a',
    credentials: nats.agent('node-a'),
    capacity: { cpuMillis: 32_000, memoryMiB: 65_536, pids: 65_536 },
  });
  nodeB = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'node-b', credentials: nats.agent('node-b'), images: [] });
  nodeA.keepHeartbeating(300);
  nodeB.keepHeartbeating(300);
  await waitFor(async () => (await hostRow('node-a')) && (await hostRow('node-b')), { timeoutMs: 10_000, what: 'both hosts to register' });
});

afterAll(async () => {
  await nodeA?.close();
  await nodeB?.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

describe('create', () => {
  it('places a workload on a host with room: claim written, host allocation and generation bumped, agent sees it', async () => {
    const before = (await hostRow('node-a'))!;
    const workload = await create('web');

    expect(workload).toMatchObject({ tenantId: TENANT_A, state: 'scheduled', desiredState: 'running', hostId: 'node-a', reason: null, generation: 0 });
    expect(await claimOf(workload.id)).toEqual({ host_id: 'node-a', cpu_millis: 500, memory_mib: 64, pids: 64 });
    const after = (await hostRow('node-a'))!;
    expect(after.allocated_cpu_millis - before.allocated_cpu_millis).toBe(500);
    expect(after.allocated_memory_mib - before.allocated_memory_mib).toBe(64);
    expect(after.allocated_pids - before.allocated_pids).toBe(64);
    expect(after.generation).toBe(before.generation + 1);

    const { assignments } = await nodeA.assignments();
    expect(assignments.find((a) => a.workloadId === workload.id)).toEqual({
      workloadId: workload.id,
      tenantId: TENANT_A,
      generation: 0,
      desiredState: 'running',
      driver: 'docker',
      spec: { image: IMAGE, command: null, env: null, resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 } },
    });
    expect((await nodeB.assignments()).assignments).toEqual([]);

    const { rows: history } = await scheduler.db.query(`SELECT from_state, to_state FROM scheduler.workload_events WHERE workload_id = $1 ORDER BY id`, [workload.id]);
    // Placed at once: its history opens on the host, with no pending step no one could see.
    expect(history).toEqual([{ from_state: null, to_state: 'scheduled' }]);
  });

  it('refuses an image no host has, naming the image', async () => {
    await expectError(create('ghost', { image: 'gureum/nowhere:1.0' }), 'image_unknown', /gureum\/nowhere:1\.0/);
  });

  it('refuses resources larger than every host, naming the largest host', async () => {
    await expectError(create('huge', { resources: { cpuMillis: 64_000, memoryMiB: 64, pids: 64 } }), 'resources_exceed_host', /64000m CPU, 64 MiB, 64 pids does not fit on any host; the largest is node-a with 32000m CPU, 65536 MiB, 65536 pids/);
    await expectError(create('huge', { resources: { cpuMillis: 100, memoryMiB: 64, pids: 100_000 } }), 'resources_exceed_host');
  });

  it('answers a bad payload and a missing caller with validation_failed', async () => {
    const raw = async (data: unknown) => {
      const reply = await scheduler.api.connection.request(
        'scheduler.cmd.workload.create.v1',
        JSON.stringify({ pattern: 'scheduler.cmd.workload.create.v1', data, id: randomUUID() }),
        { timeout: 5000 },
      );
      return reply.json<{ err?: { code: string; message: string } }>().err;
    };
    expect(await raw({ spec: spec('no-caller') })).toMatchObject({ code: 'validation_failed', message: expect.stringMatching(/caller/) });
    expect(await raw({ caller: callerOf(TENANT_A), spec: { ...spec('x'), resources: { cpuMillis: 0, memoryMiB: 64 } } })).toMatchObject({
      code: 'validation_failed',
      message: expect.stringMatching(/cpuMillis/),
    });
    expect(await raw({ caller: callerOf(TENANT_A), spec: { ...spec('x'), privileged: true } })).toMatchObject({ code: 'validation_failed' });
  });

  it('lets a viewer read but not create', async () => {
    await expectError(
      scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(TENANT_A, 'viewer'), spec: spec('viewer-made') }),
      'forbidden',
    );
  });

  it('stores readOnlyRootFilesystem, shows it in the view and sends it in the assignment; another value under the same idempotency key conflicts', async () => {
    const key = `key-${randomUUID()}`;
    const workload = await scheduler.api.request('scheduler.cmd.workload.create.v1', {
      caller: callerOf(TENANT_A),
      idempotencyKey: key,
      spec: spec('read-only', { readOnlyRootFilesystem: true }),
    });
    expect(workload.readOnlyRootFilesystem).toBe(true);
    const { rows } = await scheduler.db.query(`SELECT read_only_root_filesystem FROM scheduler.workloads WHERE id = $1`, [workload.id]);
    expect(rows[0].read_only_root_filesystem).toBe(true);
    const assignment = (await nodeA.assignments()).assignments.find((a) => a.workloadId === workload.id);
    expect(assignment?.spec.readOnlyRootFilesystem).toBe(true);
    await expectError(
      scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(TENANT_A), idempotencyKey: key, spec: spec('read-only') }),
      'conflict',
    );
    // Without the option nothing changes on the wire: no field in the view or the assignment.
    const plain = await create('writable-root');
    expect(plain).not.toHaveProperty('readOnlyRootFilesystem');
    expect((await nodeA.assignments()).assignments.find((a) => a.workloadId === plain.id)?.spec).not.toHaveProperty('readOnlyRootFilesystem');
  });

  it('returns the same workload for a repeated idempotency key, conflict for another spec under it', async () => {
    const key = `key-${randomUUID()}`;
    const first = await scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(TENANT_A), idempotencyKey: key, spec: spec('idem', { env: { A: '1', B: '2' } }) });
    const again = await scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(TENANT_A), idempotencyKey: key, spec: spec('idem', { env: { B: '2', A: '1' } }) });
    expect(again.id).toBe(first.id);
    await expectError(
      scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(TENANT_A), idempotencyKey: key, spec: spec('idem-2') }),
      'conflict',
    );
    // The key is per tenant: another tenant's identical key is a different workload.
    const other = await scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(TENANT_B), idempotencyKey: key, spec: spec('idem') });
    expect(other.id).not.toBe(first.id);
    const { rows } = await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.workloads WHERE idempotency_key = $1`, [key]);
    expect(rows[0].n).toBe(2);
  });

  it('answers 409 conflict, not the deleted workload, when the key belongs to a deleted workload (issue 21)', async () => {
    const key = `deleted-${randomUUID()}`;
    const first = await scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(TENANT_A), idempotencyKey: key, spec: spec('idem-deleted') });
    await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(TENANT_A), workloadId: first.id });
    const error = await expectError(
      scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(TENANT_A), idempotencyKey: key, spec: spec('idem-deleted') }),
      'conflict',
      /deleted/,
    );
    expect(error.details).toMatchObject({ idempotencyKey: key, workloadId: first.id });
  });

  it('creates once when the same idempotency key arrives concurrently', async () => {
    const key = `race-${randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(TENANT_A), idempotencyKey: key, spec: spec('race', { resources: { cpuMillis: 10, memoryMiB: 6, pids: 1 } }) }),
      ),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
  });
});

describe('tenancy', () => {
  it('hides tenant A\'s workload from tenant B on get, stop, start and delete, and in lists', async () => {
    const workload = await create('private');
    const asB = { caller: callerOf(TENANT_B), workloadId: workload.id };
    await expectError(scheduler.api.request('scheduler.cmd.workload.get.v1', asB), 'not_found');
    await expectError(scheduler.api.request('scheduler.cmd.workload.stop.v1', asB), 'not_found');
    await expectError(scheduler.api.request('scheduler.cmd.workload.start.v1', asB), 'not_found');
    await expectError(scheduler.api.request('scheduler.cmd.workload.delete.v1', asB), 'not_found');
    // Same answer as for an id that does not exist at all.
    await expectError(scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(TENANT_B), workloadId: randomUUID() }), 'not_found');
    const listB = await scheduler.api.request('scheduler.cmd.workload.list.v1', { caller: callerOf(TENANT_B), limit: 500 });
    expect(listB.items.map((item) => item.id)).not.toContain(workload.id);
    expect(listB.items.every((item) => item.tenantId === TENANT_B)).toBe(true);
    expect((await get(workload.id)).state).toBe('scheduled'); // untouched
  });
});

describe('list', () => {
  it('pages through a tenant\'s workloads with a cursor, oldest first, without repeats', async () => {
    const tenant = randomUUID();
    const created: string[] = [];
    for (let i = 0; i < 5; i += 1) created.push((await create(`page-${i}`, { resources: { cpuMillis: 10, memoryMiB: 6, pids: 1 } }, tenant)).id);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page += 1) {
      const result = await scheduler.api.request('scheduler.cmd.workload.list.v1', { caller: callerOf(tenant), limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...result.items.map((item) => item.id));
      if (!result.nextCursor) break;
      cursor = result.nextCursor;
    }
    expect(seen).toEqual(created);
  });

  it('rejects a cursor it did not issue', async () => {
    await expectError(scheduler.api.request('scheduler.cmd.workload.list.v1', { caller: callerOf(TENANT_A), cursor: 'bm90LWEtY3Vyc29y' }), 'validation_failed', /cursor/);
  });

  it('leaves deleted workloads out unless asked', async () => {
    const tenant = randomUUID();
    const kept = await create('kept', {}, tenant);
    const gone = await create('gone', {}, tenant);
    await scheduler.api.request('scheduler.cmd.workload.stop.v1', { caller: callerOf(tenant), workloadId: gone.id });
    await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(tenant), workloadId: gone.id });
    await nodeA.report([observedTask(gone.id, 0, 'absent')]);
    await waitFor(async () => (await get(gone.id, tenant)).state === 'deleted', { timeoutMs: 5000, what: 'workload deleted' });

    const visible = await scheduler.api.request('scheduler.cmd.workload.list.v1', { caller: callerOf(tenant) });
    expect(visible.items.map((item) => item.id)).toEqual([kept.id]);
    const all = await scheduler.api.request('scheduler.cmd.workload.list.v1', { caller: callerOf(tenant), includeDeleted: true });
    expect(all.items.map((item) => item.id)).toEqual([kept.id, gone.id]);
  });
});

describe('lifecycle driven by agent reports', () => {
  it('created → starting, running → running, reports are idempotent', async () => {
    const workload = await create('lifecycle');
    expect(await nodeA.report([observedTask(workload.id, 0, 'created')])).toEqual({ applied: 1 });
    expect((await get(workload.id)).state).toBe('starting');
    expect(await nodeA.report([observedTask(workload.id, 0, 'running')])).toEqual({ applied: 1 });
    expect((await get(workload.id)).state).toBe('running');
    expect(await nodeA.report([observedTask(workload.id, 0, 'running')])).toEqual({ applied: 0 });
  });

  it('an OOM kill fails the workload with reason oom_killed and the exit code', async () => {
    const workload = await create('oom');
    await nodeA.report([observedTask(workload.id, 0, 'running')]);
    await nodeA.report([observedTask(workload.id, 0, 'exited', { exitCode: 137, oomKilled: true })]);
    expect(await get(workload.id)).toMatchObject({ state: 'failed', reason: 'oom_killed', exitCode: 137 });
  });

  it('stop → stopping → exited → stopped keeps the claim; start runs a new generation on the same host', async () => {
    const workload = await create('stoppable');
    await nodeA.report([observedTask(workload.id, 0, 'running')]);

    const stopping = await scheduler.api.request('scheduler.cmd.workload.stop.v1', { caller: callerOf(TENANT_A), workloadId: workload.id });
    expect(stopping).toMatchObject({ state: 'stopping', desiredState: 'stopped' });
    expect((await nodeA.assignments()).assignments.find((a) => a.workloadId === workload.id)?.desiredState).toBe('stopped');
    await nodeA.report([observedTask(workload.id, 0, 'running')]);
    expect((await get(workload.id)).state).toBe('stopping');
    await nodeA.report([observedTask(workload.id, 0, 'exited', { exitCode: 143 })]);
    expect(await get(workload.id)).toMatchObject({ state: 'stopped', exitCode: 143 });
    expect(await claimOf(workload.id)).toMatchObject({ host_id: 'node-a' });
    // Stopping what is stopped answers with it as it is.
    expect((await scheduler.api.request('scheduler.cmd.workload.stop.v1', { caller: callerOf(TENANT_A), workloadId: workload.id })).state).toBe('stopped');

    const started = await scheduler.api.request('scheduler.cmd.workload.start.v1', { caller: callerOf(TENANT_A), workloadId: workload.id });
    expect(started).toMatchObject({ state: 'starting', desiredState: 'running', generation: 1, hostId: 'node-a', exitCode: null });
    // The old generation's exit is stale and must not stop the new run.
    expect(await nodeA.report([observedTask(workload.id, 0, 'exited', { exitCode: 143 })])).toEqual({ applied: 0 });
    await nodeA.report([observedTask(workload.id, 1, 'running')]);
    expect((await get(workload.id)).state).toBe('running');
    // Starting what runs answers with it as it is: no new generation.
    expect(await scheduler.api.request('scheduler.cmd.workload.start.v1', { caller: callerOf(TENANT_A), workloadId: workload.id })).toMatchObject({
      state: 'running',
      generation: 1,
    });
  });

  it('refuses to stop a failed workload, naming its state', async () => {
    const workload = await create('broken');
    await nodeA.report([observedTask(workload.id, 0, 'error', { error: { code: 'image_not_found', message: 'gone' } })]);
    expect(await get(workload.id)).toMatchObject({ state: 'failed', reason: 'image_not_found' });
    await expectError(scheduler.api.request('scheduler.cmd.workload.stop.v1', { caller: callerOf(TENANT_A), workloadId: workload.id }), 'invalid_state', /failed/);
  });

  it('delete → stopping until the agent reports the task absent, then deleted with the claim released', async () => {
    const workload = await create('deletable');
    await nodeA.report([observedTask(workload.id, 0, 'running')]);
    const before = (await hostRow('node-a'))!;

    const deleting = await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(TENANT_A), workloadId: workload.id });
    expect(deleting).toMatchObject({ state: 'stopping', desiredState: 'deleted' });
    await nodeA.report([observedTask(workload.id, 0, 'exited', { exitCode: 0 })]);
    expect((await get(workload.id)).state).toBe('stopping');
    expect(await claimOf(workload.id)).not.toBeNull();

    expect(await nodeA.report([observedTask(workload.id, 0, 'absent')])).toEqual({ applied: 1 });
    expect((await get(workload.id)).state).toBe('deleted');
    expect(await claimOf(workload.id)).toBeNull();
    const after = (await hostRow('node-a'))!;
    expect(before.allocated_cpu_millis - after.allocated_cpu_millis).toBe(500);
    expect(after.generation).toBe(before.generation + 1);
    expect((await nodeA.assignments()).assignments.map((a) => a.workloadId)).not.toContain(workload.id);
    // Deleting again is a no-op, and stopping a deleted workload is refused.
    expect((await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(TENANT_A), workloadId: workload.id })).state).toBe('deleted');
    await expectError(scheduler.api.request('scheduler.cmd.workload.stop.v1', { caller: callerOf(TENANT_A), workloadId: workload.id }), 'invalid_state', /deleted/);
  });
});

describe('agent boundaries', () => {
  it('releases a held task only when its workload is deleted, placed elsewhere or unknown — never while merely unplaced', async () => {
    const deleted = await create('held-deleted');
    await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(TENANT_A), workloadId: deleted.id });
    await nodeA.report([observedTask(deleted.id, 0, 'absent')]);
    const moved = await create('held-moved');
    const unplaced = await create('held-unplaced');
    const stillHere = await create('held-still-here');
    await scheduler.db.query(`UPDATE scheduler.workloads SET host_id = 'node-b' WHERE id = $1`, [moved.id]);
    await scheduler.db.query(`UPDATE scheduler.workloads SET host_id = NULL, state = 'pending' WHERE id = $1`, [unplaced.id]);
    const unknown = '99999999-9999-4999-8999-999999999999';

    const reply = await nodeA.assignments([deleted.id, moved.id, unplaced.id, stillHere.id, unknown]);
    expect(reply.released).toEqual(
      expect.arrayContaining([
        { workloadId: deleted.id, reason: 'deleted' },
        { workloadId: moved.id, reason: 'moved' },
        { workloadId: unknown, reason: 'unknown' },
      ]),
    );
    expect(reply.released).toHaveLength(3);
    expect(reply.assignments.map((a) => a.workloadId)).toContain(stillHere.id);
    // An agent that holds nothing (or an older one) gets no `released` at all.
    expect((await nodeA.assignments()).released).toBeUndefined();
  });

  it('ignores another node\'s report about a workload it does not host', async () => {
    const workload = await create('not-yours');
    expect(await nodeB.report([observedTask(workload.id, 0, 'exited', { exitCode: 1 })])).toEqual({ applied: 0 });
    expect((await get(workload.id)).state).toBe('scheduled');
  });

  it('refuses a payload naming another node than the subject', async () => {
    await expectError(nodeB.bus.request('agent.*.req.report.v1', { nodeId: 'node-a', observed: [] }, { nodeId: 'node-b' }), 'validation_failed', /node-a/);
    await expectError(nodeB.bus.request('agent.*.req.assignments.v1', { nodeId: 'node-a' }, { nodeId: 'node-b' }), 'validation_failed');
  });

  it('does not let an agent publish on another node\'s subjects at all', async () => {
    // NATS refuses the publish (permissions), so nobody answers: the scheduler never sees it.
    const error = await nodeB.bus.request('agent.*.req.assignments.v1', { nodeId: 'node-a' }, { nodeId: 'node-a', timeoutMs: 1000 }).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(GureumError);
    expect(['timeout', 'unavailable']).toContain((error as GureumError).code);
  });

  it('drops and logs a heartbeat whose payload names another node', async () => {
    nodeB.stopHeartbeating();
    try {
      await nodeB.heartbeat(nodeB.heartbeatPayload({ nodeId: 'node-z', labels: { zone: 'forged' } }));
      const warning = await waitFor(async () => scheduler.logs.find((line) => line.msg.startsWith('rejected signal')), {
        timeoutMs: 5000,
        what: 'the forged heartbeat to be rejected',
      });
      expect(warning).toMatchObject({ level: 'warn', subject: 'agent.node-b.evt.heartbeat.v1', code: 'validation_failed' });
      expect(warning.msg).toMatch(/node-z/);
      const { rows } = await scheduler.db.query(`SELECT id FROM scheduler.hosts WHERE labels->>'zone' = 'forged' OR id = 'node-z'`);
      expect(rows).toEqual([]);
    } finally {
      nodeB.keepHeartbeating(300);
    }
  });

  it('logs a heartbeat that fails validation instead of dropping it silently', async () => {
    const before = scheduler.logs.length;
    // Bypass the Bus, which would refuse to send it: an agent of another version might.
    nodeB.bus.connection.publish('agent.node-b.evt.heartbeat.v1', JSON.stringify({ nodeId: 'node-b', drivers: [] }));
    const warning = await waitFor(async () => scheduler.logs.slice(before).find((line) => line.msg.startsWith('rejected signal')), {
      timeoutMs: 5000,
      what: 'the invalid heartbeat to be rejected',
    });
    expect(warning).toMatchObject({ code: 'validation_failed', subject: 'agent.node-b.evt.heartbeat.v1' });
  });
});

describe('events', () => {
  it('publishes each transition to the GUREUM_EVENTS stream after commit', async () => {
    const workload = await create('evented');
    await nodeA.report([observedTask(workload.id, 0, 'running')]);
    const events = await waitFor(
      async () => {
        const mine = (await readStateEvents(scheduler.api.connection)).filter((event) => event.workloadId === workload.id);
        return mine.length >= 2 ? mine : undefined;
      },
      { timeoutMs: 10_000, what: 'two state events of the workload on the stream' },
    );
    expect(events.map((event) => [event.from, event.to])).toEqual([
      [null, 'scheduled'],
      ['scheduled', 'running'],
    ]);
    expect(events[0]).toMatchObject({ tenantId: TENANT_A, hostId: 'node-a', generation: 0 });
    const { rows } = await scheduler.db.query(`SELECT event_id FROM scheduler.workload_events WHERE workload_id = $1 ORDER BY id`, [workload.id]);
    expect(events.map((event) => event.eventId)).toEqual(rows.map((row) => row.event_id));
  });

  it('publishes nothing from a transaction that rolled back', async () => {
    // Make the quota charge fail inside the create transaction: the single path charges last,
    // after the workload, its claim, its history row and its outbox event were written (a
    // batch fails at its quota lock and hands the create to the single path).
    await scheduler.db.query(`
      CREATE FUNCTION scheduler.refuse_charge() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'test: charge refused'; END $$;
      CREATE TRIGGER refuse_charge BEFORE INSERT OR UPDATE ON scheduler.quota_usage FOR EACH ROW EXECUTE FUNCTION scheduler.refuse_charge();`);
    const streamBefore = (await readStateEvents(scheduler.api.connection)).length;
    const outboxBefore = (await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.outbox`)).rows[0].n;
    try {
      await expectError(create('doomed'), 'internal');
    } finally {
      await scheduler.db.query(`DROP TRIGGER refuse_charge ON scheduler.quota_usage; DROP FUNCTION scheduler.refuse_charge();`);
    }
    expect((await scheduler.db.query(`SELECT 1 FROM scheduler.workloads WHERE name = 'doomed'`)).rowCount).toBe(0);
    expect((await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.outbox`)).rows[0].n).toBe(outboxBefore);

    // A committed create after it: once its events are on the stream, the relay has run
    // past where the rolled-back events would have been, and they are not there.
    const survivor = await create('survivor');
    const events = await waitFor(
      async () => {
        const all = await readStateEvents(scheduler.api.connection);
        return all.some((event) => event.workloadId === survivor.id) ? all : undefined;
      },
      { timeoutMs: 10_000, what: 'the committed workload\'s events' },
    );
    // Nothing else runs in this file meanwhile, so every new event must be the survivor's.
    expect(events.slice(streamBefore).map((event) => [event.workloadId, event.to])).toEqual([[survivor.id, 'scheduled']]);
  });
});
