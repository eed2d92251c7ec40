import { activateV1BlockAccounting, createBlockIoReader, parseBlkioServiceBytes, parseIoStat } from './block-io';
import type { CgroupFiles } from './cgroup-files';

/** Files as cgroupfs and /proc would show them; anything else is ENOENT. */
function filesOf(content: Record<string, string>, written: Array<[string, string]> = []): CgroupFiles {
  const enoent = (path: string) => Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return {
    read: async (path) => {
      const text = content[path];
      if (text === undefined) throw enoent(path);
      return text;
    },
    write: async (path, value) => {
      if (!path.includes('/gureum-io-accounting/blkio.throttle.')) throw enoent(path);
      if (value.startsWith('9:')) throw Object.assign(new Error('ENODEV'), { code: 'ENODEV' });
      written.push([path, value]);
    },
    mkdir: async () => undefined,
    rmdir: async () => undefined,
  };
}

const V1_MOUNTINFO = [
  '30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '37 30 0:33 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio',
  '40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const V2_MOUNTINFO = '30 25 0:26 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate';

const BLKIO = `254:0 Read 4096
254:0 Write 26234880
254:0 Sync 26234880
254:0 Async 4096
254:0 Discard 0
254:0 Total 26238976
8:16 Read 100
8:16 Write 0
8:16 Total 100
Total 26239076
`;

describe('block-I/O counters', () => {
  it('sums Read and Write of every device from the v1 throttle file, not Sync/Async/Total', () => {
    expect(parseBlkioServiceBytes(BLKIO)).toEqual({ readBytes: 4196n, writeBytes: 26_234_880n });
    expect(parseBlkioServiceBytes('Total 0\n')).toEqual({ readBytes: 0n, writeBytes: 0n });
  });

  it('sums rbytes and wbytes of every device from v2 io.stat', () => {
    const text = '254:0 rbytes=1048576 wbytes=20971520 rios=16 wios=40 dbytes=0 dios=0\n8:0 rbytes=512 wbytes=1 rios=1 wios=1 dbytes=7 dios=1\n';
    expect(parseIoStat(text)).toEqual({ readBytes: 1_049_088n, writeBytes: 20_971_521n });
    expect(parseIoStat('')).toEqual({ readBytes: 0n, writeBytes: 0n });
  });

  it('rejects a counter that is not a number', () => {
    expect(() => parseIoStat('254:0 rbytes=x wbytes=1')).toThrow(/unexpected content/);
  });

  it('reads a process’s own v1 blkio group (recursive file), and null when it shares the caller’s group', async () => {
    const files = filesOf({
      '/proc/self/mountinfo': V1_MOUNTINFO,
      '/proc/self/cgroup': '7:blkio:/agent\n1:cpu:/agent\n0::/\n',
      '/proc/42/cgroup': '7:blkio:/docker/abc\n1:cpu:/docker/abc\n0::/docker/abc\n',
      '/proc/43/cgroup': '7:blkio:/agent\n1:cpu:/agent/vm-1\n0::/\n',
      '/sys/fs/cgroup/blkio/docker/abc/blkio.throttle.io_service_bytes_recursive': BLKIO,
    });
    const reader = await createBlockIoReader({ files });
    expect(await reader.readForPid(42)).toEqual({ readBytes: 4196n, writeBytes: 26_234_880n });
    expect(await reader.readForPid(43)).toBeNull();
    await expect(reader.readForPid(44)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('reads io.stat of the process’s v2 group, and says so when the io controller is not enabled there', async () => {
    const files = filesOf({
      '/proc/self/mountinfo': V2_MOUNTINFO,
      '/proc/self/cgroup': '0::/gureum/agent\n',
      '/proc/42/cgroup': '0::/gureum/vm-1\n',
      '/proc/43/cgroup': '0::/gureum/vm-2\n',
      '/sys/fs/cgroup/gureum/vm-1/io.stat': '254:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n',
    });
    const reader = await createBlockIoReader({ files });
    expect(await reader.readForPid(42)).toEqual({ readBytes: 10n, writeBytes: 20n });
    await expect(reader.readForPid(43)).rejects.toMatchObject({ code: 'controller_unavailable' });
  });

  it('activates v1 blk-throttle accounting with no-op rules for every real disk, on an empty group of its own; nothing on v2', async () => {
    const written: Array<[string, string]> = [];
    const files = filesOf(
      {
        '/proc/self/mountinfo': V1_MOUNTINFO,
        '/proc/self/cgroup': '7:blkio:/agent\n1:cpu:/agent\n0::/\n',
        '/sys/block/vda/dev': '254:0\n',
        '/sys/block/md0/dev': '9:0\n',
        '/sys/block/loop0/dev': '7:0\n',
      },
      written,
    );
    const list = async () => ['loop0', 'vda', 'md0', 'zram0'];
    expect(await activateV1BlockAccounting({ files, list })).toEqual(['254:0']);
    expect(written).toEqual([
      ['/sys/fs/cgroup/blkio/agent/gureum-io-accounting/blkio.throttle.read_bps_device', '254:0 1099511627776'],
      ['/sys/fs/cgroup/blkio/agent/gureum-io-accounting/blkio.throttle.write_bps_device', '254:0 1099511627776'],
    ]);
    const v2 = filesOf({ '/proc/self/mountinfo': V2_MOUNTINFO, '/proc/self/cgroup': '0::/\n' });
    expect(await activateV1BlockAccounting({ files: v2, list })).toEqual([]);
  });
});
