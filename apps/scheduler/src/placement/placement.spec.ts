import {
  covers,
  describeResources,
  explainNoPlacement,
  largestHost,
  normalizeImageRef,
  DEFAULT_PLACEMENT_SETTINGS,
  DEDICATED_LABEL,
  effectiveCapacity,
  explainPlacement,
  inShard,
  parseConstraint,
  rankHosts,
  rejectionOf,
  scoreHost,
  type HostSnapshot,
  type PlacementRequest,
  type PlacementSettings,
} from './placement';

const IMAGE = 'gureum/busybox:latest';

function host(id: string, overrides: Partial<HostSnapshot> = {}): HostSnapshot {
  return {
    id,
    state: 'ready',
    drivers: ['docker'],
    labels: {},
    images: [IMAGE],
    capacity: { cpuMillis: 4000, memoryMiB: 8192, pids: 4096 },
    allocated: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
    ...overrides,
  };
}

const TENANT = '11111111-1111-4111-8111-111111111111';
const OTHER_TENANT = '22222222-2222-4222-8222-222222222222';
const request: PlacementRequest = { tenantId: TENANT, driver: 'docker', image: IMAGE, resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 } };
/** No overcommit: the classic filters are easier to read against raw capacity. */
const exact: PlacementSettings = { ...DEFAULT_PLACEMENT_SETTINGS, allocationRatios: { cpuMillis: 1, memoryMiB: 1, pids: 1 } };
const filterOf = (h: HostSnapshot, r: PlacementRequest = request, settings: PlacementSettings = exact, withAffinity = false) => rejectionOf(h, r, settings, withAffinity)?.filter ?? null;

describe('placement filters', () => {
  it('accepts a ready docker host with the image and room', () => {
    expect(filterOf(host('a'))).toBeNull();
  });

  it('rejects a host that is not ready', () => {
    for (const state of ['unreachable', 'lost', 'cordoned', 'draining', 'maintenance', 'decommissioned'] as const) expect(filterOf(host('a', { state }))).toBe('host_state');
  });

  it('rejects a host without the requested driver', () => {
    expect(filterOf(host('a', { drivers: ['vm'] }))).toBe('driver');
    expect(filterOf(host('a', { drivers: [] }))).toBe('driver');
  });

  it('rejects a host that does not have the image, and treats a missing tag as :latest', () => {
    expect(filterOf(host('a', { images: ['gureum/other:latest'] }))).toBe('image');
    expect(filterOf(host('a', { images: ['gureum/busybox:1.36'] }))).toBe('image');
    expect(filterOf(host('a'), { ...request, image: 'gureum/busybox' })).toBeNull();
    // An image in a registry is pulled by the agent: no host needs it beforehand.
    expect(filterOf(host('a', { images: [] }), { ...request, image: '127.0.0.1:5000/acme/app:1' })).toBeNull();
    expect(explainNoPlacement([host('a', { images: [], allocated: { cpuMillis: 3900, memoryMiB: 0, pids: 0 } })], { ...request, image: '127.0.0.1:5000/acme/app:1' })).toMatch(/room/);
  });

  it.each([
    ['cpu', { cpuMillis: 3600, memoryMiB: 0, pids: 0 }],
    ['memory', { cpuMillis: 0, memoryMiB: 8160, pids: 0 }],
    ['pids', { cpuMillis: 0, memoryMiB: 0, pids: 4040 }],
  ])('rejects a host whose free %s is below the request', (_resource, allocated) => {
    expect(filterOf(host('a', { allocated }))).toBe('capacity');
  });

  it('accepts a request that uses exactly the free capacity', () => {
    const exactFit = host('a', { allocated: { cpuMillis: 3500, memoryMiB: 8128, pids: 4032 } });
    expect(filterOf(exactFit)).toBeNull();
  });

  it('rejects a host whose allocation exceeds a capacity that shrank', () => {
    expect(filterOf(host('a', { capacity: { cpuMillis: 1000, memoryMiB: 1024, pids: 100 }, allocated: { cpuMillis: 1200, memoryMiB: 0, pids: 0 } }))).toBe('capacity');
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
    expect(rankHosts(hosts, request, exact).map((h) => h.id)).toEqual(['nearly-full', 'half', 'empty']);
  });

  it('breaks CPU ties with the least free memory', () => {
    const hosts = [host('roomy'), host('tight', { allocated: { cpuMillis: 0, memoryMiB: 8000, pids: 0 } })];
    expect(rankHosts(hosts, request, exact).map((h) => h.id)).toEqual(['tight', 'roomy']);
  });

  it('breaks full ties by host id, whatever the input order', () => {
    const ids = ['node-c', 'node-a', 'node-b', 'Node-Z'];
    expect(rankHosts(ids.map((id) => host(id)), request, exact).map((h) => h.id)).toEqual(['Node-Z', 'node-a', 'node-b', 'node-c']);
    expect(rankHosts([...ids].reverse().map((id) => host(id)), request, exact).map((h) => h.id)).toEqual(['Node-Z', 'node-a', 'node-b', 'node-c']);
  });

  it('scores on free capacity after placement, so a smaller host can win over a fuller big one', () => {
    const small = host('small', { capacity: { cpuMillis: 1000, memoryMiB: 1024, pids: 1024 } });
    const big = host('big', { capacity: { cpuMillis: 16000, memoryMiB: 65536, pids: 4096 }, allocated: { cpuMillis: 8000, memoryMiB: 0, pids: 0 } });
    expect(rankHosts([big, small], request, exact).map((h) => h.id)).toEqual(['small', 'big']);
  });

  it('leaves out every host a filter rejects', () => {
    const hosts = [host('ok'), host('lost', { state: 'lost' }), host('vm-only', { drivers: ['vm'] }), host('no-image', { images: [] }), host('full', { allocated: { cpuMillis: 4000, memoryMiB: 0, pids: 0 } })];
    expect(rankHosts(hosts, request, exact).map((h) => h.id)).toEqual(['ok']);
  });
});

describe("a replica's shard", () => {
  const ids = Array.from({ length: 60 }, (_, i) => `host-${i}`);

  it('splits the fleet into count parts, every host in exactly one, each part a fair share', () => {
    for (const count of [2, 3, 5]) {
      const parts = Array.from({ length: count }, (_, index) => ids.filter((id) => inShard(id, { index, count })));
      expect(parts.flat().sort()).toEqual([...ids].sort());
      for (const part of parts) expect(part.length).toBeGreaterThan(ids.length / count / 3);
    }
    // The split is 32-bit FNV-1a of the id, pinned by its published test vectors (fnv1a("a") =
    // 0xe40c292c, fnv1a("foobar") = 0xbf9cf968), so every replica and every release split alike.
    for (const [id, hash] of [['a', 0xe40c292c], ['foobar', 0xbf9cf968]] as const) {
      for (const count of [2, 5, 7]) expect(inShard(id, { index: hash % count, count })).toBe(true);
    }
    expect(ids.some((id) => inShard(id, null) || inShard(id, { index: 0, count: 1 }))).toBe(false);
  });

  it('ranks every host of the shard before every other host, each part by score', () => {
    const hosts = ids.slice(0, 12).map((id, i) => host(id, { allocated: { cpuMillis: (i % 4) * 800, memoryMiB: 0, pids: 0 } }));
    const shard = { index: 1, count: 3 };
    const plain = rankHosts(hosts, request, exact).map((h) => h.id);
    const ranked = rankHosts(hosts, request, { ...exact, shard }).map((h) => h.id);
    const inside = plain.filter((id) => inShard(id, shard));
    expect(inside.length).toBeGreaterThan(0);
    expect(inside.length).toBeLessThan(plain.length);
    expect(ranked).toEqual([...inside, ...plain.filter((id) => !inShard(id, shard))]);
    // A host outside the shard is still chosen when none inside it takes the request.
    const full = hosts.map((h) => (inShard(h.id, shard) ? { ...h, allocated: { cpuMillis: 4000, memoryMiB: 0, pids: 0 } } : h));
    expect(rankHosts(full, request, { ...exact, shard }).map((h) => h.id)).toEqual(plain.filter((id) => !inShard(id, shard)));
    // The explanation marks the shard's hosts and chooses as rankHosts does.
    const explanation = explainPlacement(hosts, request, { ...exact, shard });
    expect(explanation.scores.map((score) => score.hostId)).toEqual(ranked);
    expect(explanation.scores.filter((score) => score.preferred).map((score) => score.hostId)).toEqual(inside);
    expect(explanation.choice).toBe(ranked[0]);
  });
});

describe('placement explanations', () => {
  it('names the first filter nothing passes', () => {
    expect(explainNoPlacement([], request)).toBe('no host is ready');
    expect(explainNoPlacement([host('a', { state: 'lost' })], request)).toBe('no host is ready');
    expect(explainNoPlacement([host('a', { drivers: ['vm'] })], request)).toBe('no ready host offers the docker driver');
    expect(explainNoPlacement([host('a', { images: [] })], request)).toBe(`no ready host has image ${IMAGE}`);
    expect(explainNoPlacement([host('a', { allocated: { cpuMillis: 3900, memoryMiB: 0, pids: 0 } })], request, exact)).toBe(
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

describe('allocation ratios and reservations', () => {
  it('computes effective capacity as (capacity − reserved) × ratio', () => {
    const settings: PlacementSettings = { ...DEFAULT_PLACEMENT_SETTINGS, allocationRatios: { cpuMillis: 4, memoryMiB: 1, pids: 1.5 }, reserved: { cpuMillis: 500, memoryMiB: 1024, pids: 96 } };
    expect(effectiveCapacity({ cpuMillis: 4000, memoryMiB: 8192, pids: 4096 }, settings)).toEqual({ cpuMillis: 14_000, memoryMiB: 7168, pids: 6000 });
    expect(effectiveCapacity({ cpuMillis: 100, memoryMiB: 100, pids: 10 }, settings)).toEqual({ cpuMillis: 0, memoryMiB: 0, pids: 0 });
  });

  it('lets CPU be overcommitted by its ratio but never memory at ratio 1', () => {
    const settings: PlacementSettings = { ...DEFAULT_PLACEMENT_SETTINGS, allocationRatios: { cpuMillis: 4, memoryMiB: 1, pids: 1 } };
    const busy = host('a', { allocated: { cpuMillis: 15_500, memoryMiB: 0, pids: 0 } });
    expect(filterOf(busy, request, settings)).toBeNull();
    expect(filterOf(host('a', { allocated: { cpuMillis: 15_600, memoryMiB: 0, pids: 0 } }), request, settings)).toBe('capacity');
    expect(filterOf(host('a', { allocated: { cpuMillis: 0, memoryMiB: 8160, pids: 0 } }), request, settings)).toBe('capacity');
  });

  it('keeps reserved resources back', () => {
    const settings: PlacementSettings = { ...exact, reserved: { cpuMillis: 3600, memoryMiB: 0, pids: 0 } };
    expect(filterOf(host('a'), request, settings)).toBe('capacity');
    expect(filterOf(host('a'), { ...request, resources: { ...request.resources, cpuMillis: 400 } }, settings)).toBeNull();
  });

  it('never places one workload larger than the host, whatever the ratio', () => {
    const settings: PlacementSettings = { ...DEFAULT_PLACEMENT_SETTINGS, allocationRatios: { cpuMillis: 16, memoryMiB: 1, pids: 1 } };
    expect(rejectionOf(host('a'), { ...request, resources: { ...request.resources, cpuMillis: 4001 } }, settings)).toEqual({ filter: 'capacity', detail: 'larger than the host' });
  });
});

describe('label constraints', () => {
  it('parses the four forms', () => {
    expect(parseConstraint('zone=a')).toEqual({ key: 'zone', op: '=', value: 'a' });
    expect(parseConstraint('zone!=a')).toEqual({ key: 'zone', op: '!=', value: 'a' });
    expect(parseConstraint('gpu')).toEqual({ key: 'gpu', op: 'exists', value: null });
    expect(parseConstraint('!gpu')).toEqual({ key: 'gpu', op: 'absent', value: null });
  });

  it.each([
    [['zone=a'], { zone: 'a' }, true],
    [['zone=a'], { zone: 'b' }, false],
    [['zone=a'], {}, false],
    [['zone!=a'], { zone: 'b' }, true],
    [['zone!=a'], {}, true],
    [['zone!=a'], { zone: 'a' }, false],
    [['gpu'], { gpu: 'nvidia' }, true],
    [['gpu'], {}, false],
    [['!gpu'], {}, true],
    [['!gpu'], { gpu: '' }, false],
    [['zone=a', 'disk=ssd', '!gpu'], { zone: 'a', disk: 'ssd' }, true],
    [['zone=a', 'disk=ssd', '!gpu'], { zone: 'a', disk: 'hdd' }, false],
  ])('%j on a host labelled %j → %s', (constraints, labels, passes) => {
    expect(filterOf(host('a', { labels }), { ...request, constraints })).toBe(passes ? null : 'constraints');
  });
});

describe('dedicated hosts', () => {
  const mine = host('mine', { labels: { [DEDICATED_LABEL]: TENANT } });
  const theirs = host('theirs', { labels: { [DEDICATED_LABEL]: OTHER_TENANT } });
  const shared = host('shared');

  it('keeps other tenants off a dedicated host', () => {
    expect(filterOf(theirs)).toBe('dedicated');
    expect(filterOf(mine)).toBeNull();
    expect(filterOf(shared)).toBeNull();
  });

  it('sends a workload asking for dedicated only to hosts dedicated to its tenant', () => {
    const dedicated = { ...request, dedicated: true };
    expect(filterOf(mine, dedicated)).toBeNull();
    expect(filterOf(shared, dedicated)).toBe('dedicated');
    expect(filterOf(theirs, dedicated)).toBe('dedicated');
  });
});

describe('affinity and anti-affinity groups', () => {
  it('never puts two members of an anti-affinity group on one host', () => {
    const taken = host('a', { antiAffinityGroups: ['db'] });
    expect(filterOf(taken, { ...request, antiAffinityGroup: 'db' })).toBe('anti_affinity');
    expect(filterOf(taken, { ...request, antiAffinityGroup: 'web' })).toBeNull();
    expect(filterOf(taken)).toBeNull();
  });

  it('puts affinity members with the others once one is placed, anywhere before that', () => {
    const withGroup = host('with', { affinityGroups: ['cache'] });
    const without = host('without');
    const req = { ...request, affinityGroup: 'cache' };
    expect(rankHosts([without, withGroup], req, exact).map((h) => h.id)).toEqual(['with']);
    expect(rankHosts([without], req, exact).map((h) => h.id)).toEqual(['without']);
    // A member exists on a host that is not in the list (full, filtered by SQL): still only with it.
    expect(rankHosts([without], req, exact, true)).toEqual([]);
  });
});

describe('scores', () => {
  const empty = host('empty');
  const half = host('half', { allocated: { cpuMillis: 2000, memoryMiB: 4096, pids: 0 } });

  it('spreads onto the emptiest host under the spread policy, cluster-wide or per workload', () => {
    expect(rankHosts([half, empty], request, { ...exact, policy: 'spread' }).map((h) => h.id)).toEqual(['empty', 'half']);
    expect(rankHosts([half, empty], { ...request, policy: 'spread' }, exact).map((h) => h.id)).toEqual(['empty', 'half']);
    expect(rankHosts([half, empty], { ...request, policy: 'binpack' }, { ...exact, policy: 'spread' }).map((h) => h.id)).toEqual(['half', 'empty']);
  });

  it('weighs CPU and memory as configured', () => {
    const cpuBusy = host('cpu-busy', { allocated: { cpuMillis: 3000, memoryMiB: 0, pids: 0 } });
    const memBusy = host('mem-busy', { allocated: { cpuMillis: 0, memoryMiB: 7000, pids: 0 } });
    expect(rankHosts([cpuBusy, memBusy], request, { ...exact, weights: { cpu: 1, memory: 0 } })[0]?.id).toBe('cpu-busy');
    expect(rankHosts([cpuBusy, memBusy], request, { ...exact, weights: { cpu: 0, memory: 1 } })[0]?.id).toBe('mem-busy');
  });

  it('scores within 0..1 and reports utilisation after placement', () => {
    expect(scoreHost(half, request, exact)).toEqual({ hostId: 'half', score: (2500 / 4000 + 4160 / 8192) / 2, cpu: 0.625, memory: 0.507813 });
  });
});

describe('explainPlacement', () => {
  it('lists the hosts each filter removed and scores the rest, best first', () => {
    const hosts = [
      host('ok-empty'),
      host('ok-busy', { allocated: { cpuMillis: 1000, memoryMiB: 0, pids: 0 } }),
      host('lost', { state: 'lost' }),
      host('vm-only', { drivers: ['vm'] }),
      host('no-image', { images: [] }),
      host('theirs', { labels: { [DEDICATED_LABEL]: OTHER_TENANT } }),
      host('zone-b', { labels: { zone: 'b' } }),
      host('full', { allocated: { cpuMillis: 4000, memoryMiB: 0, pids: 0 } }),
    ];
    const explanation = explainPlacement(hosts, { ...request, constraints: ['!zone'] }, exact);
    const removed = Object.fromEntries(explanation.filters.map((f) => [f.filter, f.removed.map((r) => r.hostId)]));
    expect(removed).toEqual({
      host_state: ['lost'],
      driver: ['vm-only'],
      image: ['no-image'],
      dedicated: ['theirs'],
      constraints: ['zone-b'],
      anti_affinity: [],
      affinity: [],
      capacity: ['full'],
    });
    expect(explanation.scores.map((s) => s.hostId)).toEqual(['ok-busy', 'ok-empty']);
    expect(explanation.choice).toBe('ok-busy');
    expect(explanation.choice).toBe(rankHosts(hosts, { ...request, constraints: ['!zone'] }, exact)[0]?.id);
    expect(explainNoPlacement([host('zone-b', { labels: { zone: 'b' } })], { ...request, constraints: ['zone=a'] })).toBe('no ready host satisfies zone=a');
  });
});
