import { randomBytes } from 'node:crypto';

import { createCgroupManager, type CgroupManager } from '@gureum/cgroups';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '@gureum/testing';
import Docker from 'dockerode';

import type { TaskSpec } from '../driver';
import { InMemoryTaskStateStore } from '../task-state.store';
import { createDockerDriver } from './create-docker-driver';
import type { DockerDriver } from './docker.driver';

/** Against the Docker engine on /var/run/docker.sock; everything made here carries this run's ids. */
describe('DockerDriver on the real engine', () => {
  const run = randomBytes(4).toString('hex');
  const nodeId = `int-${run}`;
  const tenantId = `tenant-${run}`;
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  let cgroups: CgroupManager;
  let driver: DockerDriver;

  const spec = (name: string, overrides: Partial<TaskSpec> = {}): TaskSpec => ({
    workloadId: `${name}-${run}`,
    tenantId,
    nodeId,
    generation: 1,
    image: BUSYBOX_IMAGE,
    command: ['sleep', '300'],
    resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 },
    ...overrides,
  });

  beforeAll(async () => {
    await ensureBusyboxImage();
    cgroups = await createCgroupManager();
    driver = createDockerDriver({ stateStore: new InMemoryTaskStateStore(), cgroups });
  }, 300_000);

  afterAll(async () => {
    const containers = await docker.listContainers({ all: true, filters: { label: [`io.gureum.node=${nodeId}`] } });
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    const networks = await docker.listNetworks({ filters: { label: [`io.gureum.tenant=${tenantId}`] } });
    await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
  });

  it('reports itself healthy with the busybox image', async () => {
    const fingerprint = await driver.fingerprint();
    expect(fingerprint).toMatchObject({ driver: 'docker', healthy: true });
    expect(fingerprint.capacity.cpuMillis).toBeGreaterThanOrEqual(1000);
    expect(fingerprint.images).toContain(BUSYBOX_IMAGE);
  });

  it('runs a task under the requested limits, recovers, stops, restarts and destroys it', async () => {
    const started = await driver.start(spec('sleeper'));
    expect(started).toMatchObject({ state: 'running', generation: 1, workloadId: `sleeper-${run}`, tenantId });
    expect(started.handleId).toMatch(/^[0-9a-f]{64}$/);

    const snapshot = await cgroups.readForPid(started.pid!);
    expect(snapshot.cpu).toMatchObject({ quotaUs: 50_000, periodUs: 100_000 });
    expect(snapshot.memory.limitBytes).toBe(67108864);
    expect(snapshot.pids.max).toBe(64);
    expect(snapshot.hostPaths.memory).toContain(started.handleId);
    expect((await driver.stats(started.handleId)).limits).toEqual({ cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, memoryBytes: 67108864, pidsMax: 64 });

    const network = await docker.getNetwork(`gureum-t-${tenantId}`).inspect();
    expect(network.Labels).toMatchObject({ 'io.gureum.managed': 'true', 'io.gureum.tenant': tenantId });
    const inspected = await docker.getContainer(started.handleId).inspect();
    expect(inspected.HostConfig).toMatchObject({ MemorySwap: 67108864, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], NetworkMode: `gureum-t-${tenantId}`, Init: true });

    expect(await driver.start(spec('sleeper'))).toMatchObject({ handleId: started.handleId, state: 'running' });
    expect((await driver.recover(nodeId)).map((task) => task.handleId)).toContain(started.handleId);

    // busybox sleep has no SIGTERM handler; as PID 1 it would ignore the stop's SIGTERM and be
    // SIGKILLed after the timeout (137). Docker's init is PID 1 instead, so SIGTERM ends it: 143.
    await driver.stop(started.handleId, 1);
    await driver.stop(started.handleId, 1);
    expect(await driver.inspect(started.handleId)).toMatchObject({ state: 'exited', exitCode: 143, oomKilled: false, pid: null });
    expect((await driver.recover(nodeId)).find((task) => task.handleId === started.handleId)?.state).toBe('exited');

    const restarted = await driver.restart(started.handleId, 2);
    expect(restarted).toMatchObject({ handleId: started.handleId, state: 'running', generation: 2 });

    await driver.destroy(started.handleId);
    await driver.destroy(started.handleId);
    expect(await driver.inspect(started.handleId)).toBeNull();
  });

  it('reports a task that outgrows its memory as exited and OOM-killed', async () => {
    const hog = await driver.start(
      spec('hog', { command: ['sh', '-c', 'x=a; while true; do x=$x$x; done'], resources: { cpuMillis: 1000, memoryMiB: 16, pids: 16 } }),
    );
    const finished = await driver.wait(hog.handleId);
    expect(finished).toMatchObject({ handleId: hog.handleId, state: 'exited', oomKilled: true, exitCode: 137 });
    expect(finished.finishedAt).not.toBeNull();
    await driver.destroy(hog.handleId);
  });

  it('refuses an image that is not on the node', async () => {
    await expect(driver.start(spec('ghost', { image: `gureum/absent-${run}:latest` }))).rejects.toMatchObject({ code: 'image_not_found' });
  });
});
