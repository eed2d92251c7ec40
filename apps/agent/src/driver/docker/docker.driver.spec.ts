import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { CgroupSnapshot } from '@gureum/cgroups';

import { DriverError, type TaskSpec } from '../driver';
import { InMemoryTaskStateStore } from '../task-state.store';
import { InMemoryTaskOwnershipStore } from '../task-ownership.store';
import { DockerDriver, type CgroupReader } from './docker.driver';
import { FakeDockerEngine } from './testing/fake-docker-engine';

const IMAGE = 'gureum/busybox:latest';
const TENANT = '0b7c1f7e-3a52-4c39-9d7e-2f6d8c1a9e01';
const WORKLOAD = '5f0a6a8e-8d3b-4d0e-b1f4-6c2b7a9d3e11';
const NODE = 'node-a';

function spec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  return {
    workloadId: WORKLOAD,
    tenantId: TENANT,
    nodeId: NODE,
    generation: 1,
    image: IMAGE,
    command: ['sleep', '300'],
    env: { GREETING: 'hello world' },
    resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 },
    ...overrides,
  };
}

function rejectsWith(code: DriverError['code']) {
  return expect.objectContaining({ name: 'DriverError', code });
}

describe('DockerDriver', () => {
  let engine: FakeDockerEngine;
  let store: InMemoryTaskStateStore;
  let driver: DockerDriver;
  const cgroupReads: number[] = [];
  const cgroups: CgroupReader = {
    async readForPid(pid: number): Promise<CgroupSnapshot> {
      cgroupReads.push(pid);
      return {
        version: 1,
        cpu: { quotaUs: 50_000, periodUs: 100_000, usageNs: 123n },
        memory: { limitBytes: 67108864, usageBytes: 4096, peakBytes: 8192, oomKills: 0 },
        pids: { max: 64, current: 1 },
        hostPaths: { cpu: '/c', cpuacct: '/a', memory: '/m', pids: '/p' },
      };
    },
  };

  beforeEach(() => {
    engine = new FakeDockerEngine();
    engine.images.add(IMAGE);
    store = new InMemoryTaskStateStore();
    cgroupReads.length = 0;
    driver = new DockerDriver(engine, { stateStore: store, cgroups });
  });

  describe('start', () => {
    it('maps resources and the security posture onto HostConfig', async () => {
      const status = await driver.start(spec());

      expect(engine.requestOf(status.handleId).HostConfig).toEqual({
        CpuPeriod: 100_000,
        CpuQuota: 50_000,
        Memory: 67108864,
        MemorySwap: 67108864,
        PidsLimit: 64,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Privileged: false,
        ReadonlyRootfs: false,
        Init: true,
        RestartPolicy: { Name: 'no' },
        NetworkMode: `gureum-t-${TENANT}`,
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
      });
    });

    it('names and labels the container with its owners and passes command and environment', async () => {
      const status = await driver.start(spec({ generation: 3 }));

      expect(engine.requestOf(status.handleId)).toMatchObject({
        name: `gureum-${NODE}-${WORKLOAD}`,
        Image: IMAGE,
        Cmd: ['sleep', '300'],
        Env: ['GREETING=hello world'],
        Labels: {
          'io.gureum.managed': 'true',
          'io.gureum.node': NODE,
          'io.gureum.workload': WORKLOAD,
          'io.gureum.tenant': TENANT,
          'io.gureum.generation': '3',
        },
      });
      expect(status).toMatchObject({ workloadId: WORKLOAD, tenantId: TENANT, generation: 3, state: 'running', exitCode: null, finishedAt: null });
      expect(status.pid).toBeGreaterThan(0);
    });

    it('leaves the image command alone when the spec has none', async () => {
      const status = await driver.start(spec({ command: undefined }));
      expect(engine.requestOf(status.handleId)).not.toHaveProperty('Cmd');
    });

    it('creates one labelled bridge network per tenant and reuses it', async () => {
      await driver.start(spec());
      await driver.start(spec({ workloadId: 'second-workload' }));
      await driver.start(spec({ workloadId: 'third-workload', tenantId: 'other-tenant' }));

      expect(engine.callsStartingWith('createNetwork')).toEqual([`createNetwork gureum-t-${TENANT}`, 'createNetwork gureum-t-other-tenant']);
      expect(engine.networks.get(`gureum-t-${TENANT}`)?.request).toEqual({
        Name: `gureum-t-${TENANT}`,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: { 'io.gureum.managed': 'true', 'io.gureum.tenant': TENANT },
      });
    });

    it('tolerates the tenant network being created concurrently by someone else', async () => {
      engine.beforeNextCreate = () => engine.addNetwork(`gureum-t-${TENANT}`, { 'io.gureum.managed': 'true', 'io.gureum.tenant': TENANT });
      await expect(driver.start(spec())).resolves.toMatchObject({ state: 'running' });
    });

    it('refuses a network of the tenant name that Gureum did not create', async () => {
      engine.addNetwork(`gureum-t-${TENANT}`, {});
      await expect(driver.start(spec())).rejects.toEqual(rejectsWith('driver_failure'));
      expect(engine.containers.size).toBe(0);
    });

    it('fails with image_not_found, creating nothing, when the image is not local', async () => {
      await expect(driver.start(spec({ image: 'gureum/absent:1' }))).rejects.toEqual(rejectsWith('image_not_found'));
      expect(engine.containers.size).toBe(0);
      expect(engine.networks.size).toBe(0);
    });

    it('pulls a missing registry image with the assignment token, then runs it', async () => {
      const image = '127.0.0.1:5000/acme/app:1';
      engine.registryImages.set(image, 'tok-1');
      const status = await driver.start(spec({ image, pullAuth: { registry: '127.0.0.1:5000', token: 'tok-1' } }));
      expect(status.state).toBe('running');
      expect(engine.calls).toContain(`pullImage ${image}`);
      expect(engine.images.has(image)).toBe(true);
    });

    it('fails with image_pull_failed and the registry message when the pull is refused, creating nothing', async () => {
      const image = '127.0.0.1:5000/acme/app:1';
      engine.registryImages.set(image, 'tok-1');
      const failure = driver.start(spec({ image, pullAuth: { registry: '127.0.0.1:5000', token: 'wrong' } }));
      await expect(failure).rejects.toEqual(rejectsWith('image_pull_failed'));
      await expect(failure).rejects.toThrow(/^image pull failed: unauthorized/);
      await expect(driver.start(spec({ image: '127.0.0.1:5000/acme/missing:1' }))).rejects.toThrow(/image pull failed: manifest unknown/);
      await expect(driver.start(spec({ image, pullAuth: { registry: 'other:5000', token: 'tok-1' } }))).rejects.toThrow(/token is for other:5000/);
      expect(engine.containers.size).toBe(0);
    });

    it("commits the workload's own container and pushes it; a quota refusal has its own code", async () => {
      await driver.start(spec());
      const pushAuth = { registry: '127.0.0.1:5000', token: 'push-tok' };
      const image = '127.0.0.1:5000/acme/snap:v1';
      await expect(driver.commit({ workloadId: WORKLOAD, tenantId: TENANT, nodeId: NODE, image, pushAuth })).resolves.toEqual({ image, digest: `sha256:${'d'.repeat(64)}` });
      expect(engine.pushed.get('127.0.0.1:5000/acme/snap:v1')).toBeDefined();
      const otherTenant = '1b7c1f7e-3a52-4c39-9d7e-2f6d8c1a9e02';
      await expect(driver.commit({ workloadId: WORKLOAD, tenantId: otherTenant, nodeId: NODE, image, pushAuth })).rejects.toEqual(rejectsWith('task_not_found'));
      await expect(driver.commit({ workloadId: WORKLOAD, tenantId: TENANT, nodeId: NODE, image: 'other:5000/acme/snap:v1', pushAuth })).rejects.toEqual(rejectsWith('invalid_spec'));
      engine.pushFailure = 'denied: storage quota of tenant acme exceeded: 10 bytes';
      await expect(driver.commit({ workloadId: WORKLOAD, tenantId: TENANT, nodeId: NODE, image, pushAuth })).rejects.toEqual(rejectsWith('quota_exceeded'));
    });

    it('is idempotent per workload and generation, also once the task has exited', async () => {
      const first = await driver.start(spec());
      const again = await driver.start(spec());
      expect(again.handleId).toBe(first.handleId);

      engine.exit(first.handleId, 0);
      const afterExit = await driver.start(spec());
      expect(afterExit).toMatchObject({ handleId: first.handleId, state: 'exited', exitCode: 0 });
      expect(engine.callsStartingWith('createContainer')).toHaveLength(1);
      expect(engine.callsStartingWith('startContainer')).toHaveLength(1);
    });

    it('starts a container that was created but never started (agent died in between)', async () => {
      engine.addNetwork(`gureum-t-${TENANT}`, { 'io.gureum.managed': 'true', 'io.gureum.tenant': TENANT });
      const id = engine.addContainer(`gureum-${NODE}-${WORKLOAD}`, labels(1), 'created');

      await expect(driver.start(spec())).resolves.toMatchObject({ handleId: id, state: 'running' });
      expect(engine.callsStartingWith('createContainer')).toHaveLength(0);
    });

    it('serialises concurrent starts of one workload into one container', async () => {
      const [a, b] = await Promise.all([driver.start(spec()), driver.start(spec())]);
      expect(a.handleId).toBe(b.handleId);
      expect(engine.containers.size).toBe(1);
    });

    it('adopts a container another process created for the same start between inspect and create', async () => {
      engine.addNetwork(`gureum-t-${TENANT}`, { 'io.gureum.managed': 'true', 'io.gureum.tenant': TENANT });
      let racedId = '';
      engine.beforeNextCreate = () => (racedId = engine.addContainer(`gureum-${NODE}-${WORKLOAD}`, labels(1), 'created'));

      const status = await driver.start(spec());
      expect(status).toMatchObject({ handleId: racedId, state: 'running' });
      expect(engine.containers.size).toBe(1);
    });

    it('replaces a stopped task with a fresh container for a newer generation', async () => {
      const first = await driver.start(spec());
      engine.exit(first.handleId, 1);

      const second = await driver.start(spec({ generation: 2, resources: { cpuMillis: 250, memoryMiB: 32, pids: 8 } }));
      expect(second.handleId).not.toBe(first.handleId);
      expect(second).toMatchObject({ generation: 2, state: 'running' });
      expect(engine.requestOf(second.handleId).HostConfig).toMatchObject({ CpuQuota: 25_000, Memory: 32 * 1024 * 1024, PidsLimit: 8 });
      expect(await driver.inspect(first.handleId)).toBeNull();
    });

    it('records a newer generation for a task that is still running, without a second container', async () => {
      const first = await driver.start(spec());
      const second = await driver.start(spec({ generation: 2 }));

      expect(second).toMatchObject({ handleId: first.handleId, generation: 2, state: 'running' });
      expect(store.get(first.handleId)).toBe(2);
      expect(engine.containers.size).toBe(1);
    });

    it('refuses a generation older than the one the task carries', async () => {
      await driver.start(spec({ generation: 5 }));
      await expect(driver.start(spec({ generation: 4 }))).rejects.toEqual(rejectsWith('stale_generation'));
    });

    it('refuses to take over a container of the same name that is not this workload', async () => {
      engine.addContainer(`gureum-${NODE}-${WORKLOAD}`, { unrelated: 'yes' });
      await expect(driver.start(spec())).rejects.toEqual(rejectsWith('driver_failure'));
      engine.containers.clear();
      engine.addContainer(`gureum-${NODE}-${WORKLOAD}`, { ...labels(1), 'io.gureum.node': 'node-b' });
      await expect(driver.start(spec())).rejects.toEqual(rejectsWith('driver_failure'));
    });

    it.each<[string, Partial<TaskSpec>]>([
      ['a workload id with a slash', { workloadId: 'a/b' }],
      ['an empty tenant id', { tenantId: '' }],
      ['a fractional generation', { generation: 1.5 }],
      ['a quota below the 1 ms CFS minimum', { resources: { cpuMillis: 5, memoryMiB: 64, pids: 64 } }],
      ['memory below the 6 MiB Docker minimum', { resources: { cpuMillis: 500, memoryMiB: 4, pids: 64 } }],
      ['zero pids', { resources: { cpuMillis: 500, memoryMiB: 64, pids: 0 } }],
      ['an environment name with "="', { env: { 'A=B': 'x' } }],
      ['an image with whitespace', { image: 'busy box' }],
    ])('rejects %s as invalid_spec before calling the engine', async (_case, overrides) => {
      await expect(driver.start(spec(overrides))).rejects.toEqual(rejectsWith('invalid_spec'));
      expect(engine.calls).toEqual([]);
    });

    it('reports an unreachable engine as engine_unavailable', async () => {
      engine.unavailable = true;
      await expect(driver.start(spec())).rejects.toEqual(rejectsWith('engine_unavailable'));
    });
  });

  describe('restart', () => {
    it('starts the stopped task again under the same handle and records the generation', async () => {
      const first = await driver.start(spec());
      engine.exit(first.handleId, 137);

      const restarted = await driver.restart(first.handleId, 2);
      expect(restarted).toMatchObject({ handleId: first.handleId, generation: 2, state: 'running', exitCode: null });
      expect(store.get(first.handleId)).toBe(2);
    });

    it('does not run a generation twice and refuses an older one', async () => {
      const first = await driver.start(spec());
      engine.exit(first.handleId, 0);
      await driver.restart(first.handleId, 2);
      engine.exit(first.handleId, 0);

      await expect(driver.restart(first.handleId, 2)).resolves.toMatchObject({ state: 'exited', generation: 2 });
      await expect(driver.restart(first.handleId, 1)).rejects.toEqual(rejectsWith('stale_generation'));
      expect(engine.callsStartingWith('startContainer')).toHaveLength(2);
    });

    it('only records a newer generation for a task that is still running', async () => {
      const task = await driver.start(spec());
      await expect(driver.restart(task.handleId, 2)).resolves.toMatchObject({ handleId: task.handleId, state: 'running', generation: 2 });
      expect(engine.callsStartingWith('startContainer')).toHaveLength(1);
    });

    it('keeps the older generation when the start fails, so a retry starts again', async () => {
      const first = await driver.start(spec());
      engine.exit(first.handleId, 0);
      engine.unavailable = true;
      await expect(driver.restart(first.handleId, 2)).rejects.toEqual(rejectsWith('engine_unavailable'));
      engine.unavailable = false;

      expect(store.get(first.handleId)).toBeUndefined();
      await expect(driver.restart(first.handleId, 2)).resolves.toMatchObject({ state: 'running', generation: 2 });
    });

    it('fails with task_not_found for an unknown or unmanaged handle', async () => {
      const foreign = engine.addContainer('someone-else', {});
      await expect(driver.restart('f'.repeat(64), 2)).rejects.toEqual(rejectsWith('task_not_found'));
      await expect(driver.restart(foreign, 2)).rejects.toEqual(rejectsWith('task_not_found'));
      expect(engine.callsStartingWith('startContainer')).toEqual([]);
    });
  });

  describe('recover', () => {
    it('returns every managed task of the node, exited ones too, without starting anything', async () => {
      const running = await driver.start(spec());
      const exited = await driver.start(spec({ workloadId: 'exited-one' }));
      engine.exit(exited.handleId, 3);
      await driver.start(spec({ workloadId: 'elsewhere', nodeId: 'node-b' }));
      engine.addContainer('unmanaged', { 'io.gureum.node': NODE });
      const startsBefore = engine.callsStartingWith('startContainer').length;

      const recovered = await driver.recover(NODE);
      expect(recovered.map((task) => [task.handleId, task.state]).sort()).toEqual(
        [[running.handleId, 'running'], [exited.handleId, 'exited']].sort(),
      );
      expect(engine.callsStartingWith('startContainer')).toHaveLength(startsBefore);
    });

    it('reports the stored generation over the label', async () => {
      const task = await driver.start(spec());
      await store.set(task.handleId, 7);
      expect((await driver.recover(NODE))[0]?.generation).toBe(7);
    });
  });

  describe('ownership (never by label)', () => {
    const VICTIM = '9d1e5b7a-1111-4c39-9d7e-2f6d8c1a9e02';
    const forgedLabels = { 'io.gureum.managed': 'true', 'io.gureum.node': NODE, 'io.gureum.workload': VICTIM, 'io.gureum.tenant': TENANT, 'io.gureum.generation': '9' };
    let ownership: InMemoryTaskOwnershipStore;
    let warnings: Array<{ details: object; message: string }>;

    beforeEach(() => {
      ownership = new InMemoryTaskOwnershipStore(false);
      warnings = [];
      const logger = { info: () => undefined, warn: (details: object, message: string) => warnings.push({ details, message }) };
      driver = new DockerDriver(engine, { stateStore: store, cgroups, ownership, logger });
    });

    it('does not adopt, stop or destroy a container whose inherited labels name another workload', async () => {
      const victim = await driver.start(spec({ workloadId: VICTIM }));
      const forged = engine.addContainer('brave_turing', forgedLabels, 'running');

      const recovered = await driver.recover(NODE);
      expect(recovered.map((task) => task.handleId)).toEqual([victim.handleId]);
      expect(await driver.inspect(forged)).toBeNull();
      await driver.destroy(forged);
      expect(engine.containers.has(forged)).toBe(true);
      expect(engine.callsStartingWith('removeContainer')).toEqual([]);
      await expect(driver.stop(forged, 1)).rejects.toEqual(rejectsWith('task_not_found'));
      // Noticed, once.
      await driver.recover(NODE);
      expect(warnings).toEqual([{ details: expect.objectContaining({ handleId: forged, claimedWorkloadId: VICTIM }), message: expect.stringMatching(/not created by this agent/) }]);
    });

    it('does not adopt a container that took the name the agent would choose but is not recorded', async () => {
      const squatter = engine.addContainer(`gureum-${NODE}-${VICTIM}`, forgedLabels, 'running');
      expect(await driver.recover(NODE)).toEqual([]);
      await expect(driver.start(spec({ workloadId: VICTIM }))).rejects.toEqual(rejectsWith('driver_failure'));
      expect(engine.containers.has(squatter)).toBe(true);
    });

    it('forgets the record of a container removed behind its back', async () => {
      const task = await driver.start(spec());
      await engine.removeContainer(task.handleId);
      await driver.recover(NODE);
      expect(ownership.owner(task.handleId)).toBeUndefined();
    });

    it('a recorded id must still carry the labels it was recorded with', async () => {
      const task = await driver.start(spec());
      // Someone swaps labels on the same id (only a fake engine can): no longer the task.
      engine.containers.get(task.handleId)!.record.labels['io.gureum.workload'] = VICTIM;
      expect(await driver.recover(NODE)).toEqual([]);
    });

    it('adopts a container whose create was recorded as intended but not completed (agent died in between)', async () => {
      await ownership.intend({ workloadId: WORKLOAD, tenantId: TENANT, name: `gureum-${NODE}-${WORKLOAD}` });
      const id = engine.addContainer(`gureum-${NODE}-${WORKLOAD}`, { ...forgedLabels, 'io.gureum.workload': WORKLOAD, 'io.gureum.generation': '1' }, 'created');
      expect((await driver.recover(NODE)).map((task) => task.handleId)).toEqual([id]);
      expect(ownership.owner(id)).toMatchObject({ workloadId: WORKLOAD });
    });

    it('after an upgrade adopts the older agent\'s containers by their chosen name once, then only by record', async () => {
      ownership = new InMemoryTaskOwnershipStore(true);
      driver = new DockerDriver(engine, { stateStore: store, cgroups, ownership });
      const older = engine.addContainer(`gureum-${NODE}-${WORKLOAD}`, { ...forgedLabels, 'io.gureum.workload': WORKLOAD }, 'running');
      const forged = engine.addContainer('random_name', forgedLabels, 'running');
      expect((await driver.recover(NODE)).map((task) => task.handleId)).toEqual([older]);
      expect(ownership.legacy).toBe(false);
      // A container appearing later with a chosen-looking name is not adopted any more.
      const late = engine.addContainer(`gureum-${NODE}-${VICTIM}`, forgedLabels, 'running');
      expect((await driver.recover(NODE)).map((task) => task.handleId)).toEqual([older]);
      expect(engine.containers.has(forged) && engine.containers.has(late)).toBe(true);
    });
  });

  describe('tenant networks', () => {
    const NETWORK = `gureum-t-${TENANT}`;

    it("removes the tenant's network when its last container is destroyed, not before", async () => {
      const one = await driver.start(spec());
      const two = await driver.start(spec({ workloadId: 'second' }));
      await driver.destroy(one.handleId);
      expect(engine.networks.has(NETWORK)).toBe(true);
      await driver.destroy(two.handleId);
      expect(engine.networks.has(NETWORK)).toBe(false);
      // The tenant comes back: a fresh network.
      await driver.start(spec({ workloadId: 'third' }));
      expect(engine.networks.has(NETWORK)).toBe(true);
    });

    it('keeps a network a stopped container still names', async () => {
      const one = await driver.start(spec());
      const two = await driver.start(spec({ workloadId: 'second' }));
      engine.exit(two.handleId, 0);
      await driver.destroy(one.handleId);
      expect(engine.networks.has(NETWORK)).toBe(true);
    });

    it('reaps empty tenant networks of ours at the first recovery, and nothing else', async () => {
      engine.addNetwork('gureum-t-gone', { 'io.gureum.managed': 'true', 'io.gureum.tenant': 'gone' });
      engine.addNetwork('someone-elses', { team: 'x' });
      const kept = await driver.start(spec());
      await driver.recover(NODE);
      expect([...engine.networks.keys()].sort()).toEqual([NETWORK, 'someone-elses'].sort());
      expect(engine.containers.has(kept.handleId)).toBe(true);
    });

    it('a release racing a create of the same tenant never leaves the new container without its network', async () => {
      const one = await driver.start(spec());
      const releasing = driver.destroy(one.handleId);
      const starting = driver.start(spec({ workloadId: 'racer' }));
      await releasing;
      const started = await starting;
      expect(started.state).toBe('running');
      expect(engine.networks.has(NETWORK)).toBe(true);
    });

    it('recreates the network once when another agent removed it between create and start', async () => {
      engine.beforeNextCreate = () => undefined;
      const first = await driver.start(spec());
      await driver.stop(first.handleId, 1);
      // Another agent on this engine removes the (for it, empty) network right after our create.
      const originalCreate = engine.createContainer.bind(engine);
      engine.createContainer = async (request) => {
        const id = await originalCreate(request);
        engine.networks.delete(NETWORK);
        return id;
      };
      const second = await driver.start(spec({ workloadId: 'after-removal' }));
      expect(second.state).toBe('running');
      expect(engine.networks.has(NETWORK)).toBe(true);
    });
  });

  describe('stop, wait, destroy, inspect', () => {
    it('stops a running task with the given timeout and tolerates stopping it again', async () => {
      const task = await driver.start(spec());
      await driver.stop(task.handleId, 3);
      await driver.stop(task.handleId, 3);

      expect(engine.callsStartingWith('stopContainer')).toEqual([`stopContainer ${task.handleId} 3`, `stopContainer ${task.handleId} 3`]);
      expect(await driver.inspect(task.handleId)).toMatchObject({ state: 'exited', exitCode: 143, pid: null });
    });

    it('fails to stop a task that does not exist', async () => {
      await expect(driver.stop('f'.repeat(64), 1)).rejects.toEqual(rejectsWith('task_not_found'));
    });

    it('resolves wait when the task exits, reporting an OOM kill', async () => {
      const task = await driver.start(spec());
      const waiting = driver.wait(task.handleId);
      engine.exit(task.handleId, 137, { oomKilled: true });

      await expect(waiting).resolves.toMatchObject({ handleId: task.handleId, state: 'exited', exitCode: 137, oomKilled: true });
    });

    it('removes a task, forgets its generation and tolerates it being gone', async () => {
      const task = await driver.start(spec());
      await store.set(task.handleId, 4);
      await driver.destroy(task.handleId);
      await driver.destroy(task.handleId);

      expect(await driver.inspect(task.handleId)).toBeNull();
      expect(store.get(task.handleId)).toBeUndefined();
    });

    it('never removes a container it does not manage', async () => {
      const foreign = engine.addContainer('someone-else', { 'io.gureum.workload': 'x' }, 'running');
      await driver.destroy(foreign);
      expect(engine.containers.has(foreign)).toBe(true);
      expect(await driver.inspect(foreign)).toBeNull();
    });

    it('maps Docker\'s zero times to null', async () => {
      engine.addNetwork(`gureum-t-${TENANT}`, { 'io.gureum.managed': 'true', 'io.gureum.tenant': TENANT });
      const id = engine.addContainer(`gureum-${NODE}-${WORKLOAD}`, labels(1), 'created');
      expect(await driver.inspect(id)).toMatchObject({ state: 'created', startedAt: null, finishedAt: null, exitCode: null, pid: null });
    });
  });

  describe('stats', () => {
    it('reads the cgroups of the task\'s process', async () => {
      const task = await driver.start(spec());
      const stats = await driver.stats(task.handleId);

      expect(cgroupReads).toEqual([task.pid]);
      expect(stats).toEqual({
        cpuUsageNs: 123n,
        memoryBytes: 4096,
        memoryPeakBytes: 8192,
        pids: 1,
        limits: { cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, memoryBytes: 67108864, pidsMax: 64 },
      });
    });

    it('fails with task_not_running for a stopped task', async () => {
      const task = await driver.start(spec());
      engine.exit(task.handleId, 0);
      await expect(driver.stats(task.handleId)).rejects.toEqual(rejectsWith('task_not_running'));
    });
  });

  describe('fingerprint', () => {
    let directory: string;
    beforeEach(async () => {
      directory = await mkdtemp(join(tmpdir(), 'gureum-driver-'));
      await writeFile(join(directory, 'pid_max'), '4194304\n');
    });
    afterEach(() => rm(directory, { recursive: true, force: true }));

    it('reports capacity from the engine and the kernel, and the local images', async () => {
      engine.images.add('alpine:3');
      driver = new DockerDriver(engine, { stateStore: store, cgroups, pidMaxPath: join(directory, 'pid_max') });

      expect(await driver.fingerprint()).toEqual({
        driver: 'docker',
        healthy: true,
        detail: 'docker 20.10.24, cgroup v1 (cgroupfs), 2 CPUs, userns-remap',
        capacity: { cpuMillis: 2000, memoryMiB: 4096, pids: 4194304 },
        images: ['alpine:3', IMAGE],
      });
    });

    it('says loudly when the engine does not remap users (root in a container would be host root)', async () => {
      engine.engineInfo = { ...engine.engineInfo, usernsRemap: false };
      driver = new DockerDriver(engine, { stateStore: store, cgroups, pidMaxPath: join(directory, 'pid_max') });
      expect((await driver.fingerprint()).detail).toContain('WARNING no userns-remap: root in a container is root on the host');
    });

    it('applies capacity overrides field by field', async () => {
      driver = new DockerDriver(engine, { stateStore: store, cgroups, capacity: { memoryMiB: 1024 }, pidMaxPath: join(directory, 'pid_max') });
      expect((await driver.fingerprint()).capacity).toEqual({ cpuMillis: 2000, memoryMiB: 1024, pids: 4194304 });
    });

    it('reports an unreachable engine as unhealthy with no capacity instead of throwing', async () => {
      engine.unavailable = true;
      expect(await driver.fingerprint()).toMatchObject({ healthy: false, capacity: { cpuMillis: 0, memoryMiB: 0, pids: 0 }, images: [] });
    });
  });
});

function labels(generation: number): Record<string, string> {
  return {
    'io.gureum.managed': 'true',
    'io.gureum.node': NODE,
    'io.gureum.workload': WORKLOAD,
    'io.gureum.tenant': TENANT,
    'io.gureum.generation': String(generation),
  };
}
