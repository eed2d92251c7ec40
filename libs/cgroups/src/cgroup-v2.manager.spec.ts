import { join } from 'node:path';

import { createCgroupManager } from './create-cgroup-manager';
import type { CgroupManager } from './cgroup.types';
import { FakeCgroupTree } from './testing/fake-cgroup-tree';

const WORKLOAD_PID = 4242;

describe('CgroupV2Manager', () => {
  let tree: FakeCgroupTree;
  let manager: CgroupManager;
  beforeEach(async () => {
    tree = await FakeCgroupTree.v2();
    manager = await createCgroupManager({ fsRoot: tree.fsRoot, procRoot: tree.procRoot, files: tree.files });
  });
  afterEach(() => tree.dispose());

  it('delegates cpu, memory and pids from the parent, then writes the limits into the new group', async () => {
    await manager.create('vm-1', { cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, memoryBytes: 64 * 1024 * 1024, pidsMax: 16 });

    expect((await tree.readFile(tree.fsRoot, 'cgroup.subtree_control')).split(' ').sort()).toEqual(['cpu', 'memory', 'pids']);
    const group = join(tree.fsRoot, 'vm-1');
    expect(await tree.readFile(group, 'cpu.max')).toBe('50000 100000');
    expect(await tree.readFile(group, 'memory.max')).toBe('67108864');
    expect(await tree.readFile(group, 'pids.max')).toBe('16');
  });

  it('delegates through the intermediate group of a nested name', async () => {
    await manager.create('gureum/vm-1', { pidsMax: 8 });

    expect((await tree.readFile(join(tree.fsRoot, 'gureum'), 'cgroup.subtree_control')).split(' ').sort()).toEqual(['cpu', 'memory', 'pids']);
    expect(await tree.readFile(join(tree.fsRoot, 'gureum/vm-1'), 'pids.max')).toBe('8');
    expect(await tree.readFile(join(tree.fsRoot, 'gureum/vm-1'), 'cpu.max')).toBe('max 100000');
  });

  it('reads max as unlimited, converts usage_usec to nanoseconds and tolerates a kernel without memory.peak', async () => {
    await manager.create('vm-1', {});
    const group = join(tree.fsRoot, 'vm-1');
    await tree.setFile(group, 'cpu.stat', 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 9\nnr_throttled 2\nthrottled_usec 10\n');
    await tree.setFile(group, 'memory.current', '4096\n');
    await tree.setFile(group, 'memory.events', 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n');
    await tree.setFile(group, 'pids.current', '3\n');
    await tree.removeFile(group, 'memory.peak');

    expect(await manager.read('vm-1')).toEqual({
      version: 2,
      cpu: { quotaUs: null, periodUs: 100_000, usageNs: 1_500_000n, throttledPeriods: 2 },
      memory: { limitBytes: null, usageBytes: 4096, peakBytes: null, oomKills: 1 },
      pids: { max: null, current: 3 },
      hostPaths: { cpu: group, cpuacct: group, memory: group, pids: group },
    });
  });

  it('resolves a process through its 0:: line after addProcess', async () => {
    await tree.spawn(WORKLOAD_PID, { unified: '/' });
    await manager.create('vm-1', { memoryBytes: 8 * 1024 * 1024 });
    await manager.addProcess('vm-1', WORKLOAD_PID);

    const snapshot = await manager.readForPid(WORKLOAD_PID);
    expect(snapshot.hostPaths.memory).toBe(join(tree.fsRoot, 'vm-1'));
    expect(snapshot.memory.limitBytes).toBe(8 * 1024 * 1024);
  });

  it('destroys a group once its processes are gone and tolerates a second destroy', async () => {
    await tree.spawn(WORKLOAD_PID, { unified: '/' });
    await manager.create('vm-1', {});
    await manager.addProcess('vm-1', WORKLOAD_PID);

    await expect(manager.destroy('vm-1')).rejects.toMatchObject({ code: 'busy' });
    await tree.exit(WORKLOAD_PID);
    await manager.destroy('vm-1');
    await manager.destroy('vm-1');
    await expect(manager.read('vm-1')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('CgroupV2Manager in a non-root group that has processes', () => {
  it('explains the no-internal-processes rule instead of failing with a bare EBUSY', async () => {
    const tree = await FakeCgroupTree.v2({ ownPath: '/agent.service' });
    try {
      const manager = await createCgroupManager({ fsRoot: tree.fsRoot, procRoot: tree.procRoot, files: tree.files });
      await expect(manager.create('vm-1', {})).rejects.toMatchObject({ code: 'busy', message: expect.stringContaining('leaf group') });
    } finally {
      await tree.dispose();
    }
  });
});
