import { mkdtemp, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createCgroupManager } from './create-cgroup-manager';
import { FakeCgroupTree } from './testing/fake-cgroup-tree';

describe('createCgroupManager', () => {
  let tree: FakeCgroupTree | undefined;
  afterEach(async () => {
    await tree?.dispose();
    tree = undefined;
  });

  it('picks v1 on a hybrid host whose cgroup2 mount is an empty tree below the root', async () => {
    tree = await FakeCgroupTree.v1();
    const manager = await createCgroupManager({ fsRoot: tree.fsRoot, procRoot: tree.procRoot, files: tree.files });
    expect(manager.version).toBe(1);
  });

  it('picks v2 when cgroup2 is mounted at the root itself', async () => {
    tree = await FakeCgroupTree.v2();
    const manager = await createCgroupManager({ fsRoot: tree.fsRoot, procRoot: tree.procRoot, files: tree.files });
    expect(manager.version).toBe(2);
  });

  it('ignores cgroup mounts outside the filesystem root', async () => {
    tree = await FakeCgroupTree.v1();
    await expect(
      createCgroupManager({ fsRoot: join(tree.base, 'elsewhere'), procRoot: tree.procRoot, files: tree.files }),
    ).rejects.toMatchObject({ code: 'unsupported_host' });
  });

  it('fails with unsupported_host when /proc has no mountinfo', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'gureum-cgroups-empty-'));
    try {
      await expect(createCgroupManager({ fsRoot: empty, procRoot: empty })).rejects.toMatchObject({ code: 'unsupported_host' });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('reports a controller missing from the current process as controller_unavailable', async () => {
    const base = await mkdtemp(join(tmpdir(), 'gureum-cgroups-nopids-'));
    try {
      const fsRoot = join(base, 'cgroup');
      const procSelf = join(base, 'proc', '1');
      await mkdir(procSelf, { recursive: true });
      await symlink('1', join(base, 'proc', 'self'));
      await writeFile(
        join(procSelf, 'mountinfo'),
        ['cpu,cpuacct', 'memory'].map((c, i) => `${30 + i} 1 0:${30 + i} / ${fsRoot}/${c} rw - cgroup cgroup rw,${c}`).join('\n'),
      );
      await writeFile(join(procSelf, 'cgroup'), '2:cpu,cpuacct:/\n3:memory:/\n');
      await expect(createCgroupManager({ fsRoot, procRoot: join(base, 'proc') })).rejects.toMatchObject({
        code: 'controller_unavailable',
        message: expect.stringContaining('pids'),
      });
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
