import type { Assignment } from '@gureum/contracts';
import pino from 'pino';
import { InMemoryTaskOwnershipStore, InMemoryTaskStateStore } from '../driver';
import { DockerDriver } from '../driver/docker/docker.driver';
import { FakeDockerEngine } from '../driver/docker/testing/fake-docker-engine';
import { Reconciler, taskSpecOf } from './reconciler';

const NODE = 'node-a';
const TENANT = '3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const W1 = '11111111-1111-4111-8111-111111111111';
const W2 = '22222222-2222-4222-8222-222222222222';
const IMAGE = 'gureum/busybox:latest';

function assignment(workloadId: string, overrides: Partial<Assignment> = {}): Assignment {
  return {
    workloadId,
    tenantId: TENANT,
    generation: 0,
    desiredState: 'running',
    driver: 'docker',
    spec: { image: IMAGE, command: ['sleep', '300'], env: null, resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 } },
    ...overrides,
  };
}

function setup() {
  const engine = new FakeDockerEngine();
  engine.images.add(IMAGE);
  const store = new InMemoryTaskStateStore();
  const driver = new DockerDriver(engine, { stateStore: store, cgroups: { readForPid: () => Promise.reject(new Error('not in unit tests')) } });
  const reconciler = new Reconciler(NODE, driver, store, pino({ level: 'silent' }), 1);
  return { engine, store, driver, reconciler };
}

describe('Reconciler', () => {
  it('starts an assigned workload that has no task and reports it running', async () => {
    const { reconciler, engine } = setup();
    const result = await reconciler.reconcile([assignment(W1)]);
    expect(result.observed).toEqual([expect.objectContaining({ workloadId: W1, state: 'running', generation: 0 })]);
    expect(engine.callsStartingWith('createContainer')).toHaveLength(1);
    expect(result.running.map((t) => t.workloadId)).toEqual([W1]);
  });

  it('does not touch a running task on the next pass (level-triggered, no churn)', async () => {
    const { reconciler, engine } = setup();
    const first = await reconciler.reconcile([assignment(W1)]);
    engine.calls.length = 0;
    const second = await reconciler.reconcile([assignment(W1)]);
    expect(second.observed[0]?.handleId).toBe(first.observed[0]?.handleId);
    expect(engine.callsStartingWith('createContainer')).toEqual([]);
    expect(engine.callsStartingWith('startContainer')).toEqual([]);
    expect(engine.callsStartingWith('removeContainer')).toEqual([]);
  });

  it('adopts the tasks of a previous agent process instead of restarting them', async () => {
    const { engine, store, driver } = setup();
    const before = await new Reconciler(NODE, driver, store, pino({ level: 'silent' })).reconcile([assignment(W1)]);
    engine.calls.length = 0;
    const restartedAgent = new Reconciler(NODE, driver, store, pino({ level: 'silent' }));
    const after = await restartedAgent.reconcile([assignment(W1)]);
    expect(after.observed[0]).toMatchObject({ state: 'running', handleId: before.observed[0]?.handleId });
    expect(engine.callsStartingWith('createContainer')).toEqual([]);
    expect(engine.callsStartingWith('startContainer')).toEqual([]);
  });

  it('keeps a running task that an assignment list is momentarily missing, and holds it for the control plane', async () => {
    const { reconciler, engine } = setup();
    const first = await reconciler.reconcile([assignment(W1), assignment(W2)]);
    const w2 = first.observed.find((task) => task.workloadId === W2)!;
    engine.calls.length = 0;
    // The scheduler thought the host lost for a moment: W2 is not in this answer.
    const gap = await reconciler.reconcile([assignment(W1)]);
    expect(gap.removedOrphans).toEqual([]);
    expect(gap.held).toEqual([W2]);
    expect(engine.callsStartingWith('removeContainer')).toEqual([]);
    expect(engine.callsStartingWith('stopContainer')).toEqual([]);
    // Placed back here: the same container, not a new one.
    const back = await reconciler.reconcile([assignment(W1), assignment(W2)]);
    expect(back.observed.find((task) => task.workloadId === W2)).toMatchObject({ state: 'running', handleId: w2.handleId });
    expect(engine.callsStartingWith('createContainer')).toEqual([]);
  });

  it.each(['deleted', 'moved', 'unknown'] as const)('removes a held task the control plane released (%s)', async (reason) => {
    const { reconciler, engine } = setup();
    await reconciler.reconcile([assignment(W1), assignment(W2)]);
    await reconciler.reconcile([assignment(W1)]);
    const result = await reconciler.reconcile([assignment(W1)], { released: new Map([[W2, reason]]) });
    expect(result.removedOrphans).toHaveLength(1);
    expect(result.held).toEqual([]);
    expect(await engine.listContainerIds([`io.gureum.node=${NODE}`])).toHaveLength(1);
  });

  it('removes a task whose assignment says deleted', async () => {
    const { reconciler, engine } = setup();
    await reconciler.reconcile([assignment(W1)]);
    const result = await reconciler.reconcile([assignment(W1, { desiredState: 'deleted' })]);
    expect(result.observed).toEqual([expect.objectContaining({ workloadId: W1, state: 'absent' })]);
    expect(await engine.listContainerIds([`io.gureum.node=${NODE}`])).toEqual([]);
  });

  it('neither adopts nor removes a container whose forged labels name an assigned workload', async () => {
    const engine = new FakeDockerEngine();
    engine.images.add(IMAGE);
    const store = new InMemoryTaskStateStore();
    const driver = new DockerDriver(engine, { stateStore: store, ownership: new InMemoryTaskOwnershipStore(false), cgroups: { readForPid: () => Promise.reject(new Error('unused')) } });
    const reconciler = new Reconciler(NODE, driver, store, pino({ level: 'silent' }), 1);
    const first = await reconciler.reconcile([assignment(W1)]);
    const labels = { 'io.gureum.managed': 'true', 'io.gureum.node': NODE, 'io.gureum.workload': W1, 'io.gureum.tenant': TENANT, 'io.gureum.generation': '0' };
    const forged = engine.addContainer('build-step', labels, 'running');
    const orphan = engine.addContainer('another', { ...labels, 'io.gureum.workload': W2 }, 'running');
    engine.calls.length = 0;
    const result = await reconciler.reconcile([assignment(W1)], { released: new Map([[W2, 'deleted']]) });
    expect(result.observed).toEqual([expect.objectContaining({ workloadId: W1, state: 'running', handleId: first.observed[0]?.handleId })]);
    expect(result.removedOrphans).toEqual([]);
    expect(result.held).toEqual([]);
    expect(engine.callsStartingWith('removeContainer')).toEqual([]);
    expect(engine.containers.has(forged) && engine.containers.has(orphan)).toBe(true);
  });

  it('reports each changed task as it changes, not only at the end of the pass', async () => {
    const { reconciler, engine } = setup();
    const seen: Array<{ workloadId: string; state: string; createsSoFar: number }> = [];
    await reconciler.reconcile([assignment(W1), assignment(W2)], {
      onChange: (task) => seen.push({ workloadId: task.workloadId, state: task.state, createsSoFar: engine.callsStartingWith('createContainer').length }),
    });
    // W1 was reported before W2's container was even created.
    expect(seen).toEqual([
      { workloadId: W1, state: 'running', createsSoFar: 1 },
      { workloadId: W2, state: 'running', createsSoFar: 2 },
    ]);
    seen.length = 0;
    await reconciler.reconcile([assignment(W1), assignment(W2)], { onChange: (task) => seen.push({ workloadId: task.workloadId, state: task.state, createsSoFar: 0 }) });
    expect(seen).toEqual([]);
  });

  it('leaves an exited task of the current generation exited and reports its exit', async () => {
    const { reconciler, engine } = setup();
    const first = await reconciler.reconcile([assignment(W1)]);
    engine.exit(first.observed[0]?.handleId as string, 137, { oomKilled: true });
    engine.calls.length = 0;
    const result = await reconciler.reconcile([assignment(W1)]);
    expect(result.observed[0]).toMatchObject({ state: 'exited', exitCode: 137, oomKilled: true });
    expect(engine.callsStartingWith('startContainer')).toEqual([]);
  });

  it('runs the same task again when the user starts a newer generation', async () => {
    const { reconciler, engine } = setup();
    const first = await reconciler.reconcile([assignment(W1)]);
    const handleId = first.observed[0]?.handleId as string;
    engine.exit(handleId, 0);
    const result = await reconciler.reconcile([assignment(W1, { generation: 1 })]);
    expect(result.observed[0]).toMatchObject({ state: 'running', handleId, generation: 1 });
  });

  it('stops a task whose workload is desired stopped, and destroys one desired deleted', async () => {
    const { reconciler, engine } = setup();
    await reconciler.reconcile([assignment(W1)]);
    const stopped = await reconciler.reconcile([assignment(W1, { desiredState: 'stopped' })]);
    expect(stopped.observed[0]?.state).toBe('exited');
    const deleted = await reconciler.reconcile([assignment(W1, { desiredState: 'deleted' })]);
    expect(deleted.observed[0]).toMatchObject({ state: 'absent', handleId: null });
    expect(await engine.listContainerIds([`io.gureum.node=${NODE}`])).toEqual([]);
  });

  it('reports a missing image as a typed error and does not retry the same generation', async () => {
    const { reconciler, engine } = setup();
    const missing = assignment(W1, { spec: { ...assignment(W1).spec, image: 'nobody/nothing:1' } });
    const first = await reconciler.reconcile([missing]);
    expect(first.observed[0]).toMatchObject({ state: 'error', error: { code: 'image_not_found' } });
    engine.calls.length = 0;
    const second = await reconciler.reconcile([missing]);
    expect(second.observed[0]).toMatchObject({ state: 'error', error: { code: 'image_not_found' } });
    expect(engine.callsStartingWith('imageExists')).toEqual([]);
    expect(engine.callsStartingWith('createContainer')).toEqual([]);
  });

  it('fails a pass (and acts on nothing) when the engine is unreachable', async () => {
    const { reconciler, engine } = setup();
    engine.unavailable = true;
    await expect(reconciler.reconcile([assignment(W1)])).rejects.toThrow();
  });

  it('keeps an unassigned task the caller protects (a VM arriving by live migration); unprotected it is held until released', async () => {
    const { engine, store, driver } = setup();
    await new Reconciler(NODE, driver, store, pino({ level: 'silent' })).reconcile([assignment(W1)]);
    let protect = true;
    const reconciler = new Reconciler(NODE, driver, store, pino({ level: 'silent' }), 1, (id) => protect && id === W1);
    expect((await reconciler.reconcile([])).removedOrphans).toEqual([]);
    expect(engine.callsStartingWith('removeContainer')).toEqual([]);
    protect = false;
    expect(await reconciler.reconcile([])).toMatchObject({ removedOrphans: [], held: [W1] });
    // The migration failed and the workload stays on its source host: released as moved.
    expect((await reconciler.reconcile([], { released: new Map([[W1, 'moved']]) })).removedOrphans).toHaveLength(1);
  });
});

describe('taskSpecOf', () => {
  it('gives a VM assignment its vCPUs (whole CPUs), disk, template and kernel arguments', () => {
    const vm = assignment(W1, {
      driver: 'vm',
      spec: { image: 'tiny', command: null, env: null, resources: { cpuMillis: 2000, memoryMiB: 128, pids: 256 }, vm: { diskGiB: 1, kernelArgs: ['gureum.write=x'] } },
    });
    expect(taskSpecOf(vm, NODE)).toEqual({
      workloadId: W1,
      tenantId: TENANT,
      nodeId: NODE,
      generation: 0,
      image: 'tiny',
      resources: { cpuMillis: 2000, memoryMiB: 128, pids: 256 },
      vm: { vcpus: 2, diskGiB: 1, template: 'tiny', kernelArgs: ['gureum.write=x'] },
    });
    expect(taskSpecOf(assignment(W1), NODE).vm).toBeUndefined();
  });
});
