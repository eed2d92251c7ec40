import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { access } from 'node:fs/promises';

import { createCgroupManager, type CgroupManager } from './index';

/** Real cgroup v1 files on this machine (v1 controllers under /sys/fs/cgroup, writable as root). */
describe('cgroups on this host (v1)', () => {
  const name = `gureum-int-${process.pid}-${randomBytes(3).toString('hex')}`;
  let manager: CgroupManager;
  let workload: ChildProcessWithoutNullStreams | undefined;

  beforeAll(async () => {
    manager = await createCgroupManager();
  });

  afterAll(async () => {
    if (workload && workload.exitCode === null && workload.signalCode === null) {
      workload.kill('SIGKILL');
      await once(workload, 'exit');
    }
    await manager.destroy(name).catch(() => undefined);
  });

  it('detects cgroup v1', () => {
    expect(manager.version).toBe(1);
  });

  it('creates a limited group, runs a process in it, reads it back by name and by pid, and destroys it', async () => {
    await manager.create(name, { cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, memoryBytes: 64 * 1024 * 1024, pidsMax: 16 });

    // The shell waits for a line before doing any work, so every CPU cycle and page it uses
    // afterwards is charged to the new group; it then prints "ready" and becomes `sleep`.
    workload = spawn('sh', ['-c', 'read go; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ready; exec sleep 300']);
    const pid = workload.pid!;
    await manager.addProcess(name, pid);
    workload.stdin.write('go\n');
    const [ready] = (await once(workload.stdout, 'data')) as [Buffer];
    expect(ready.toString()).toBe('ready\n');

    const byName = await manager.read(name);
    const byPid = await manager.readForPid(pid);
    expect(byPid.hostPaths).toEqual(byName.hostPaths);
    for (const snapshot of [byName, byPid]) {
      expect(snapshot).toMatchObject({
        version: 1,
        cpu: { quotaUs: 50_000, periodUs: 100_000 },
        memory: { limitBytes: 64 * 1024 * 1024, oomKills: 0 },
        pids: { max: 16, current: 1 },
      });
      expect(snapshot.cpu.usageNs).toBeGreaterThan(0n);
      expect(snapshot.memory.usageBytes).toBeGreaterThan(0);
      expect(snapshot.memory.peakBytes).toBeGreaterThanOrEqual(snapshot.memory.usageBytes);
    }
    expect(byName.hostPaths.cpu).toMatch(new RegExp(`^/sys/fs/cgroup/cpu(,cpuacct)?/.*${name}$`));
    expect(byName.hostPaths.memory).toMatch(new RegExp(`^/sys/fs/cgroup/memory/.*${name}$`));

    await expect(manager.destroy(name)).rejects.toMatchObject({ code: 'busy' });
    workload.kill('SIGKILL');
    await once(workload, 'exit');
    await manager.destroy(name);
    await manager.destroy(name);
    for (const directory of Object.values(byName.hostPaths)) {
      await expect(access(directory)).rejects.toMatchObject({ code: 'ENOENT' });
    }
    await expect(manager.read(name)).rejects.toMatchObject({ code: 'not_found' });
  });
});
