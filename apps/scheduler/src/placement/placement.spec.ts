import {
  covers,
  describeResources,
  explainNoPlacement,
  largestHost,
  normalizeImageRef,
  rankHosts,
  rejectionOf,
  type HostSnapshot,
  type PlacementRequest,
} from './placement';

const IMAGE = 'gureum/busybox:latest';

function host(id: string, overrides: Partial<HostSnapshot> = {}): HostSnapshot {
  return {
    id,
    state: 'ready',
    drivers: ['docker'],
    images: [IMAGE],
    capacity: { cpuMillis: 4000, memoryMiB: 8192, pids: 4096 },
    allocated: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
    ...overrides,
  };
}

const request: PlacementRequest = { driver: 'docker', image: IMAGE, resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 } };

describe('placement filters', () => {
  it('accepts a ready docker host with the image and room', () => {
    expect(rejectionOf(host('a'), request)).toBeNull();
  });

  it('rejects a host that is not ready', () => {
    expect(rejectionOf(host('a', { state: 'lost' }), request)).toBe('not_ready');
  });

  it('rejects a host without the requested driver', () => {
    expect(rejectionOf(host('a', { drivers: ['vm'] }), request)).toBe('driver_missing');
    expect(rejectionOf(host('a', { drivers: [] }), request)).toBe('driver_missing');
  });

  it('rejects a host that does not have the image, and treats a missing tag as :latest', () => {
    expect(rejectionOf(host('a', { images: ['gureum/other:latest'] }), request)).toBe('image_missing');
    expect(rejectionOf(host('a', { images: ['gureum/busybox:1.36'] }), request)).toBe('image_missing');
    expect(rejectionOf(host('a'), { ...request, image: 'gureum/busybox' })).toBeNull();
    // An image in a registry is pulled by the agent: no host needs it beforehand.
    expect(rejectionOf(host('a', { images: [] }), { ...request, image: '127.0.0.1:5000/acme/app:1' })).toBeNull();
    expect(explainNoPlacement([host('a', { images: [], allocated: { cpuMillis: 3900, memoryMiB: 0, pids: 0 } })], { ...request, image: '127.0.0.1:5000/acme/app:1' })).toMatch(/room/);
  });

  it.each([
    ['cpu', { cpuMillis: 3600, memoryMiB: 0, pids: 0 }],
    ['memory', { cpuMillis: 0, memoryMiB: 8160, pids: 0 }],
    ['pids', { cpuMillis: 0, memoryMiB: 0, pids: 4040 }],
  ])('rejects a host whose free %s is below the request', (_resource, allocated) => {
    expect(rejectionOf(host('a', { allocated }), request)).toBe('no_room');
  });

  it('accepts a request that uses exactly the free capacity', () => {
    const exact = host('a', { allocated: { cpuMillis: 3500, memoryMiB: 8128, pids: 4032 } });
    expect(rejectionOf(exact, request)).toBeNull();
  });

  it('rejects a host whose allocation exceeds a capacity that shrank', () => {
    expect(rejectionOf(host('a', { capacity: { cpuMillis: 1000, memoryMiB: 1024, pids: 100 }, allocated: { cpuMillis: 1200, memoryMiB: 0, pids: 0 } }), request)).toBe(
      'no_room',
    );
  });

  it('compares every resource in covers()', () => {
    expect(covers({ cpuMillis: 1, memoryMiB: 1, pids: 1 }, { cpuMillis: 1, memoryMiB: 1, pids: 1 })).toBe(true);
    expect(covers({ cpuMillis: 1, memoryMiB: 1, pids: 0 }, { cpuMillis: 1, memoryMiB: 1, pids: 1 })).toBe(false);
    expect(covers({ cpuMillis: 1, memoryMiB: 0, pids: 1 }, { cpuMillis: 1, memoryMiB: 1, pids: 1 })).toBe(false);
    expect(covers({ cpuMillis: 0, memoryMiB: 1, pids: 1 }, { cpuMillis: 1, memoryMiB: 1, pids: 1 })).toBe(false);
  });
});

describe('placement score (bin-pack)', () => {
  it('prefers the host left with the least free CPU', () => {
    const hosts = [
      host('empty'),
      host('half', { allocated: { cpuMillis: 2000, memoryMiB: 0, pids: 0 } }),
      host('nearly-full', { allocated: { cpuMillis: 3500, memoryMiB: 0, pids: 0 } }),
    ];
    expect(rankHosts(hosts, request).map((h) => h.id)).toEqual(['nearly-full', 'half', 'empty']);
  });

  it('breaks CPU ties with the least free memory', () => {
    const hosts = [host('roomy'), host('tight', { allocated: { cpuMillis: 0, memoryMiB: 8000, pids: 0 } })];
    expect(rankHosts(hosts, request).map((h) => h.id)).toEqual(['tight', 'roomy']);
  });

  it('breaks full ties by host id, whatever the input order', () => {
    const ids = ['node-c', 'node-a', 'node-b', 'Node-Z'];
    expect(rankHosts(ids.map((id) => host(id)), request).map((h) => h.id)).toEqual(['Node-Z', 'node-a', 'node-b', 'node-c']);
    expect(rankHosts([...ids].reverse().map((id) => host(id)), request).map((h) => h.id)).toEqual(['Node-Z', 'node-a', 'node-b', 'node-c']);
  });

  it('scores on free capacity after placement, so a smaller host can win over a fuller big one', () => {
    const small = host('small', { capacity: { cpuMillis: 1000, memoryMiB: 1024, pids: 1024 } });
    const big = host('big', { capacity: { cpuMillis: 16000, memoryMiB: 65536, pids: 4096 }, allocated: { cpuMillis: 8000, memoryMiB: 0, pids: 0 } });
    expect(rankHosts([big, small], request).map((h) => h.id)).toEqual(['small', 'big']);
  });

  it('leaves out every host a filter rejects', () => {
    const hosts = [host('ok'), host('lost', { state: 'lost' }), host('vm-only', { drivers: ['vm'] }), host('no-image', { images: [] }), host('full', { allocated: { cpuMillis: 4000, memoryMiB: 0, pids: 0 } })];
    expect(rankHosts(hosts, request).map((h) => h.id)).toEqual(['ok']);
  });
});

describe('placement explanations', () => {
  it('names the first filter nothing passes', () => {
    expect(explainNoPlacement([], request)).toBe('no host is ready');
    expect(explainNoPlacement([host('a', { state: 'lost' })], request)).toBe('no host is ready');
    expect(explainNoPlacement([host('a', { drivers: ['vm'] })], request)).toBe('no ready host offers the docker driver');
    expect(explainNoPlacement([host('a', { images: [] })], request)).toBe(`no ready host has image ${IMAGE}`);
    expect(explainNoPlacement([host('a', { allocated: { cpuMillis: 3900, memoryMiB: 0, pids: 0 } })], request)).toBe(
      'no ready host has room for 500m CPU, 64 MiB, 64 pids',
    );
  });

  it('describes resources the way tenants write them', () => {
    expect(describeResources({ cpuMillis: 250, memoryMiB: 6, pids: 1 })).toBe('250m CPU, 6 MiB, 1 pids');
  });

  it('finds the largest host by CPU, then memory, then pids', () => {
    const hosts = [
      host('a', { capacity: { cpuMillis: 2000, memoryMiB: 9999, pids: 1 } }),
      host('b', { capacity: { cpuMillis: 4000, memoryMiB: 1024, pids: 1 } }),
      host('c', { capacity: { cpuMillis: 4000, memoryMiB: 2048, pids: 1 } }),
      host('d', { capacity: { cpuMillis: 4000, memoryMiB: 2048, pids: 2 } }),
    ];
    expect(largestHost(hosts)?.id).toBe('d');
    expect(largestHost([])).toBeNull();
  });

  it('normalises image references like Docker does', () => {
    expect(normalizeImageRef('busybox')).toBe('busybox:latest');
    expect(normalizeImageRef('gureum/busybox:1.36')).toBe('gureum/busybox:1.36');
    expect(normalizeImageRef('127.0.0.1:5000/gureum/busybox')).toBe('127.0.0.1:5000/gureum/busybox:latest');
    expect(normalizeImageRef('127.0.0.1:5000/gureum/busybox:v1')).toBe('127.0.0.1:5000/gureum/busybox:v1');
    const digest = `gureum/busybox@sha256:${'a'.repeat(64)}`;
    expect(normalizeImageRef(digest)).toBe(digest);
  });
});
