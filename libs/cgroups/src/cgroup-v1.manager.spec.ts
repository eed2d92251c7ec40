import { join } from 'node:path';

import { createCgroupManager } from './create-cgroup-manager';
import { supportsCpuThreadSplit, type CgroupManager } from './cgroup.types';
import { FAKE_OWN_PID, FakeCgroupTree, type FakeV1Options } from './testing/fake-cgroup-tree';

const WORKLOAD_PID = 4242;

async function v1(options: FakeV1Options = {}): Promise<{ tree: FakeCgroupTree; manager: CgroupManager }> {
  const tree = await FakeCgroupTree.v1(options);
  const manager = await createCgroupManager({ fsRoot: tree.fsRoot, procRoot: tree.procRoot, files: tree.files });
  return { tree, manager };
}

describe('CgroupV1Manager (separate cpu and cpuacct hierarchies, as on our hosts)', () => {
  let tree: FakeCgroupTree;
  let manager: CgroupManager;
  beforeEach(async () => ({ tree, manager } = await v1()));
  afterEach(() => tree.dispose());

  const dir = (controller: string, path: string) => join(tree.mountPointOf(controller), path);

  it('creates the group below the current process in each hierarchy and writes every limit', async () => {
    await manager.create('vm-1', { cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, memoryBytes: 64 * 1024 * 1024, pidsMax: 16 });

    expect(await tree.readFile(dir('cpu', 'vm-1'), 'cpu.cfs_quota_us')).toBe('50000');
    expect(await tree.readFile(dir('cpu', 'vm-1'), 'cpu.cfs_period_us')).toBe('100000');
    // The own process's memory cgroup is /session/own, so the group goes below it there only.
    expect(await tree.readFile(dir('memory', 'session/own/vm-1'), 'memory.limit_in_bytes')).toBe('67108864');
    expect(await tree.readFile(dir('pids', 'vm-1'), 'pids.max')).toBe('16');
    expect(await tree.readFile(dir('cpuacct', 'vm-1'), 'cgroup.procs')).toBe('');
  });

  it('splits threads into a cpu-only sub-group with its own quota and raises the group quota after the move', async () => {
    if (!supportsCpuThreadSplit(manager)) throw new Error('the v1 manager splits cpu threads');
    await manager.create('vm-1', { cpuQuotaUs: 100_000, cpuPeriodUs: 100_000, memoryBytes: 64 * 1024 * 1024, pidsMax: 16 });
    const writes: string[] = [];
    const write = tree.files.write.bind(tree.files);
    tree.files.write = async (path, value) => {
      writes.push(`${path.slice(tree.mountPointOf('cpu').length)}=${value}`);
      await write(path, value);
    };

    await manager.splitCpuThreads('vm-1', 'vcpus', [4301], { periodUs: 100_000, childQuotaUs: 100_000, groupQuotaUs: 150_000 });

    expect(await tree.readFile(dir('cpu', 'vm-1/vcpus'), 'cpu.cfs_quota_us')).toBe('100000');
    expect(await tree.readFile(dir('cpu', 'vm-1/vcpus'), 'tasks')).toBe('4301');
    expect(await tree.readFile(dir('cpu', 'vm-1'), 'cpu.cfs_quota_us')).toBe('150000');
    // The thread is under the child's cap before the group's is raised.
    expect(writes.indexOf('/vm-1/vcpus/tasks=4301')).toBeLessThan(writes.indexOf('/vm-1/cpu.cfs_quota_us=150000'));
    // Only the cpu hierarchy is split: memory, pids and cpuacct keep the whole process in the group.
    await expect(tree.readFile(dir('cpuacct', 'vm-1/vcpus'), 'cgroup.procs')).rejects.toThrow();
    await expect(tree.readFile(dir('memory', 'session/own/vm-1/vcpus'), 'cgroup.procs')).rejects.toThrow();
    // The sub-group goes first, then the group.
    await expect(manager.destroy('vm-1')).rejects.toMatchObject({ code: 'busy' });
    await manager.destroy('vm-1/vcpus');
    await manager.destroy('vm-1');
  });

  it('refuses a thread split whose group quota would be below the sub-group’s, or of a group that does not exist', async () => {
    if (!supportsCpuThreadSplit(manager)) throw new Error('the v1 manager splits cpu threads');
    await manager.create('vm-1', { cpuQuotaUs: 100_000 });
    await expect(manager.splitCpuThreads('vm-1', 'vcpus', [4301], { periodUs: 100_000, childQuotaUs: 100_000, groupQuotaUs: 50_000 })).rejects.toMatchObject({ code: 'invalid_limits' });
    await expect(manager.splitCpuThreads('vm-2', 'vcpus', [4301], { periodUs: 100_000, childQuotaUs: 100_000, groupQuotaUs: 150_000 })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('resets limits left out of a repeated create to unlimited', async () => {
    await manager.create('vm-1', { cpuQuotaUs: 50_000, memoryBytes: 64 * 1024 * 1024, pidsMax: 16 });
    await manager.create('vm-1', { memoryBytes: 32 * 1024 * 1024 });

    expect(await tree.readFile(dir('cpu', 'vm-1'), 'cpu.cfs_quota_us')).toBe('-1');
    expect(await tree.readFile(dir('memory', 'session/own/vm-1'), 'memory.limit_in_bytes')).toBe('33554432');
    expect(await tree.readFile(dir('pids', 'vm-1'), 'pids.max')).toBe('max');
  });

  it('reads a snapshot with each value from its own controller directory', async () => {
    await manager.create('vm-1', { cpuQuotaUs: 50_000, memoryBytes: 64 * 1024 * 1024, pidsMax: 16 });
    await tree.setFile(dir('cpuacct', 'vm-1'), 'cpuacct.usage', '123456789012\n');
    await tree.setFile(dir('cpu', 'vm-1'), 'cpu.stat', 'nr_periods 40\nnr_throttled 7\nthrottled_time 99\n');
    await tree.setFile(dir('memory', 'session/own/vm-1'), 'memory.usage_in_bytes', '1048576\n');
    await tree.setFile(dir('memory', 'session/own/vm-1'), 'memory.max_usage_in_bytes', '2097152\n');
    await tree.setFile(dir('memory', 'session/own/vm-1'), 'memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\noom_kill 3\n');
    await tree.setFile(dir('pids', 'vm-1'), 'pids.current', '5\n');

    expect(await manager.read('vm-1')).toEqual({
      version: 1,
      cpu: { quotaUs: 50_000, periodUs: 100_000, usageNs: 123456789012n, throttledPeriods: 7 },
      memory: { limitBytes: 67108864, usageBytes: 1048576, peakBytes: 2097152, oomKills: 3 },
      pids: { max: 16, current: 5 },
      hostPaths: { cpu: dir('cpu', 'vm-1'), cpuacct: dir('cpuacct', 'vm-1'), memory: dir('memory', 'session/own/vm-1'), pids: dir('pids', 'vm-1') },
    });
  });

  it('reads the kernel\'s "no limit" values as null and a missing oom_kill line (kernels before 4.13) as null', async () => {
    await manager.create('vm-1', {});
    await tree.setFile(dir('memory', 'session/own/vm-1'), 'memory.oom_control', 'oom_kill_disable 0\nunder_oom 0\n');
    await tree.setFile(dir('memory', 'session/own/vm-1'), 'memory.limit_in_bytes', '9223372036854771712\n');

    const snapshot = await manager.read('vm-1');
    expect(snapshot.cpu.quotaUs).toBeNull();
    expect(snapshot.memory).toMatchObject({ limitBytes: null, oomKills: null });
    expect(snapshot.pids.max).toBeNull();
  });

  it('resolves a process to its groups through /proc/<pid>/cgroup after addProcess', async () => {
    await tree.spawn(WORKLOAD_PID, { cpu: '/', cpuacct: '/', memory: '/session/own', pids: '/' });
    await manager.create('vm-1', { pidsMax: 16 });
    await manager.addProcess('vm-1', WORKLOAD_PID);
    await tree.setFile(dir('cpuacct', 'vm-1'), 'cpuacct.usage', '77');

    const byPid = await manager.readForPid(WORKLOAD_PID);
    expect(byPid.hostPaths).toEqual((await manager.read('vm-1')).hostPaths);
    expect(byPid.cpu.usageNs).toBe(77n);
    expect(byPid.pids.max).toBe(16);
  });

  it('reads usage for a process from the hierarchy path of that controller, which differs per controller', async () => {
    await tree.files.mkdir(dir('cpuacct', 'billing'));
    await tree.files.mkdir(dir('memory', 'other'));
    await tree.files.mkdir(dir('pids', 'p'));
    await tree.spawn(WORKLOAD_PID, { cpu: '/', cpuacct: '/billing', memory: '/other', pids: '/p' });
    await tree.setFile(dir('cpuacct', 'billing'), 'cpuacct.usage', '555');
    await tree.setFile(dir('cpuacct', ''), 'cpuacct.usage', '999999');

    const snapshot = await manager.readForPid(WORKLOAD_PID);
    expect(snapshot.cpu.usageNs).toBe(555n);
    expect(snapshot.hostPaths).toEqual({ cpu: dir('cpu', ''), cpuacct: dir('cpuacct', 'billing'), memory: dir('memory', 'other'), pids: dir('pids', 'p') });
  });

  it('fails with controller_unavailable when a usage file is missing, e.g. pids.current in a hierarchy root', async () => {
    await expect(manager.readForPid(FAKE_OWN_PID)).rejects.toMatchObject({ code: 'controller_unavailable', message: expect.stringContaining('pids.current') });
  });

  it('reports unknown processes and groups as not_found', async () => {
    await expect(manager.readForPid(31337)).rejects.toMatchObject({ code: 'not_found' });
    await expect(manager.read('absent')).rejects.toMatchObject({ code: 'not_found' });
    await expect(manager.addProcess('absent', FAKE_OWN_PID)).rejects.toMatchObject({ code: 'not_found' });
    await manager.create('vm-1', {});
    await expect(manager.addProcess('vm-1', 31337)).rejects.toMatchObject({ code: 'not_found' });
    await expect(manager.readForPid(-1)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('refuses to destroy a group with members, then destroys it and tolerates a second destroy', async () => {
    await tree.spawn(WORKLOAD_PID, {});
    await manager.create('vm-1', {});
    await manager.addProcess('vm-1', WORKLOAD_PID);

    await expect(manager.destroy('vm-1')).rejects.toMatchObject({ code: 'busy' });
    await tree.exit(WORKLOAD_PID);
    await manager.destroy('vm-1');
    await manager.destroy('vm-1');
    await expect(manager.read('vm-1')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('nests a/b and removes only the leaf on destroy', async () => {
    await manager.create('gureum/vm-1', { pidsMax: 8 });
    expect(await tree.readFile(dir('pids', 'gureum/vm-1'), 'pids.max')).toBe('8');

    await manager.destroy('gureum/vm-1');
    await expect(manager.read('gureum/vm-1')).rejects.toMatchObject({ code: 'not_found' });
    expect(await tree.readFile(dir('pids', 'gureum'), 'cgroup.procs')).toBe('');
  });

  it('validates names and limits before touching the filesystem', async () => {
    await expect(manager.create('../escape', {})).rejects.toMatchObject({ code: 'invalid_name' });
    await expect(manager.create('vm-1', { memoryBytes: -1 })).rejects.toMatchObject({ code: 'invalid_limits' });
    await expect(manager.create('vm-1', { cpuQuotaUs: 1.5 })).rejects.toMatchObject({ code: 'invalid_limits' });
    await expect(manager.read('vm-1')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('CgroupV1Manager (cpu and cpuacct co-mounted)', () => {
  let tree: FakeCgroupTree;
  let manager: CgroupManager;
  beforeEach(async () => ({ tree, manager } = await v1({ cpuLayout: 'comounted' })));
  afterEach(() => tree.dispose());

  it('uses the one shared directory for cpu limits and cpuacct usage, and moves a process once', async () => {
    await tree.spawn(WORKLOAD_PID, {});
    await manager.create('vm-1', { cpuQuotaUs: 20_000 });
    await manager.addProcess('vm-1', WORKLOAD_PID);
    const shared = join(tree.mountPointOf('cpu'), 'vm-1');
    await tree.setFile(shared, 'cpuacct.usage', '42');

    const snapshot = await manager.readForPid(WORKLOAD_PID);
    expect(snapshot.hostPaths.cpu).toBe(shared);
    expect(snapshot.hostPaths.cpuacct).toBe(shared);
    expect(snapshot.cpu).toMatchObject({ quotaUs: 20_000, usageNs: 42n });
    await tree.exit(WORKLOAD_PID);
    await manager.destroy('vm-1');
  });
});
