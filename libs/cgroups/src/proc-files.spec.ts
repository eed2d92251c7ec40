import { hostDirectoryFor, isAtOrBelow, parseMountInfo, parseProcCgroup, type MountInfoEntry } from './proc-files';

describe('parseMountInfo', () => {
  it('reads root, mount point, type and super options past a variable number of optional fields', () => {
    const text = [
      '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 master:2 - cgroup cgroup rw,cpu',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
      '',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual([
      { root: '/', mountPoint: '/sys/fs/cgroup/cpu', fsType: 'cgroup', superOptions: ['rw', 'cpu'] },
      { root: '/', mountPoint: '/sys/fs/cgroup/unified', fsType: 'cgroup2', superOptions: ['rw', 'nsdelegate'] },
    ]);
  });

  it('decodes octal escapes in paths', () => {
    const [entry] = parseMountInfo('35 31 0:32 /a\\040b /mnt/with\\040space\\134x rw - cgroup cgroup rw,memory');
    expect(entry).toMatchObject({ root: '/a b', mountPoint: '/mnt/with space\\x' });
  });
});

describe('parseProcCgroup', () => {
  it('separates v1 controller lists, named hierarchies and the v2 line, keeping colons in paths', () => {
    const text = '2:cpu,cpuacct:/docker/abc\n9:name=systemd:/\n4:memory:/odd:path\n0::/user.slice\n';
    expect(parseProcCgroup(text)).toEqual([
      { hierarchyId: 2, controllers: ['cpu', 'cpuacct'], path: '/docker/abc' },
      { hierarchyId: 9, controllers: ['name=systemd'], path: '/' },
      { hierarchyId: 4, controllers: ['memory'], path: '/odd:path' },
      { hierarchyId: 0, controllers: [], path: '/user.slice' },
    ]);
  });
});

describe('hostDirectoryFor', () => {
  const mount = (root: string): MountInfoEntry => ({ root, mountPoint: '/sys/fs/cgroup/memory', fsType: 'cgroup', superOptions: ['memory'] });

  it('joins the cgroup path to the mount point when the whole hierarchy is mounted', () => {
    expect(hostDirectoryFor(mount('/'), '/process_api/x')).toBe('/sys/fs/cgroup/memory/process_api/x');
    expect(hostDirectoryFor(mount('/'), '/')).toBe('/sys/fs/cgroup/memory');
  });

  it('strips the mount root when only a subtree is mounted (as inside a container)', () => {
    expect(hostDirectoryFor(mount('/docker/abc'), '/docker/abc/child')).toBe('/sys/fs/cgroup/memory/child');
    expect(hostDirectoryFor(mount('/docker/abc'), '/docker/abc')).toBe('/sys/fs/cgroup/memory');
  });

  it('returns null for a path outside the mounted subtree, respecting name boundaries', () => {
    expect(hostDirectoryFor(mount('/docker/abc'), '/docker/abcd')).toBeNull();
    expect(hostDirectoryFor(mount('/docker/abc'), '/other')).toBeNull();
  });
});

describe('isAtOrBelow', () => {
  it('matches the directory itself and descendants only', () => {
    expect(isAtOrBelow('/sys/fs/cgroup', '/sys/fs/cgroup/')).toBe(true);
    expect(isAtOrBelow('/sys/fs/cgroup/cpu', '/sys/fs/cgroup')).toBe(true);
    expect(isAtOrBelow('/sys/fs/cgroupx', '/sys/fs/cgroup')).toBe(false);
  });
});
