import type { BlockIoReader } from '@gureum/cgroups';
import { HostIoCounterSource, parseNetDev, type ProcFiles } from './io-counters';

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     100    0    0    0     0          0         0   123456     100    0    0    0     0       0          0
  eth0: 1048576      11    0    0    0     0          0         0     2048      20    0    0    0     0       0          0
  eth1:18446744073709551615 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0
`;

function procFiles(content: Record<string, string>, links: Record<string, string>): ProcFiles {
  const enoent = (path: string) => Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return {
    read: async (path) => content[path] ?? Promise.reject(enoent(path)),
    readlink: async (path) => links[path] ?? Promise.reject(enoent(path)),
  };
}

const blockIo = (counters: Awaited<ReturnType<BlockIoReader['readForPid']>>): BlockIoReader => ({ readForPid: jest.fn(async () => counters) });

describe('network counters from /proc/<pid>/net/dev', () => {
  it('sums receive and transmit bytes of every interface but loopback, beyond 2^53', () => {
    expect(parseNetDev(NET_DEV)).toEqual({ rxBytes: 1_048_576n + 18_446_744_073_709_551_615n, txBytes: 2053n });
  });

  it('is zero for a namespace with loopback only, and refuses a garbled line', () => {
    expect(parseNetDev(NET_DEV.split('\n').slice(0, 3).join('\n'))).toEqual({ rxBytes: 0n, txBytes: 0n });
    expect(() => parseNetDev('  eth0: lots of bytes')).toThrow(/unexpected line/);
  });
});

describe('HostIoCounterSource', () => {
  it('reads network bytes from the task’s own namespace and block bytes from its cgroup', async () => {
    const files = procFiles({ '/proc/42/net/dev': NET_DEV }, { '/proc/self/ns/net': 'net:[4026531840]', '/proc/42/ns/net': 'net:[4026532555]' });
    const source = new HostIoCounterSource({ files, blockIo: blockIo({ readBytes: 7n, writeBytes: 9n }) });
    expect(await source.read(42)).toEqual({ networkRxBytes: 1_048_576n + 18_446_744_073_709_551_615n, networkTxBytes: 2053n, blockReadBytes: 7n, blockWriteBytes: 9n });
  });

  it('gives no network bytes for a task in the host’s namespace, and no block bytes without a reader or a group of its own', async () => {
    const files = procFiles({ '/proc/43/net/dev': NET_DEV }, { '/proc/self/ns/net': 'net:[4026531840]', '/proc/43/ns/net': 'net:[4026531840]' });
    expect(await new HostIoCounterSource({ files, blockIo: null }).read(43)).toEqual({ networkRxBytes: null, networkTxBytes: null, blockReadBytes: null, blockWriteBytes: null });
    expect(await new HostIoCounterSource({ files, blockIo: blockIo(null) }).read(43)).toMatchObject({ blockReadBytes: null, blockWriteBytes: null });
  });

  it('fails for a process that is gone (the sampler then leaves the counters out)', async () => {
    const files = procFiles({}, { '/proc/self/ns/net': 'net:[4026531840]' });
    await expect(new HostIoCounterSource({ files, blockIo: null }).read(44)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
