import {
  DEDICATED_LABEL,
  DEFAULT_PLACEMENT_SETTINGS,
  effectiveCapacity,
  explainPlacement,
  labelsSatisfy,
  maxUnit,
  parseConstraint,
  rankHosts,
  type HostSnapshot,
  type HostState,
  type PlacementRequest,
  type PlacementSettings,
} from './placement';
import { quotaDeltaOf, quotaViolation } from '../quotas/quota';
import { int, pick, prng, type Rand } from './testing/seeded-random';

/**
 * Property tests of placement: random clusters and request streams, driven by a seeded PRNG
 * so a failure names the seed that reproduces it. Each run places a stream of requests
 * greedily (like the scheduler does, one claim after another) and checks invariants after
 * every step.
 */

/** mulberry32: tiny, fast, good enough to explore the input space; deterministic per seed. */

const IMAGE = 'gureum/prop:1';
const TENANTS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];
const STATES: HostState[] = ['ready', 'ready', 'ready', 'ready', 'cordoned', 'draining', 'maintenance', 'lost'];
const CONSTRAINTS = ['zone=a', 'zone=b', 'zone!=a', 'disk=ssd', '!gpu', 'gpu'];

function randomSettings(rand: Rand): PlacementSettings {
  return {
    allocationRatios: { cpuMillis: pick(rand, [1, 1.5, 2, 4, 16]), memoryMiB: pick(rand, [1, 1, 1.2]), pids: pick(rand, [1, 2]) },
    reserved: { cpuMillis: pick(rand, [0, 250, 500]), memoryMiB: pick(rand, [0, 256]), pids: pick(rand, [0, 100]) },
    policy: pick(rand, ['binpack', 'spread'] as const),
    weights: { cpu: pick(rand, [0, 1, 2]), memory: pick(rand, [0, 1, 3]) },
  };
}

function randomHost(rand: Rand, index: number): HostSnapshot {
  const labels: Record<string, string> = { zone: pick(rand, ['a', 'b', 'c']) };
  if (rand() < 0.5) labels['disk'] = pick(rand, ['ssd', 'hdd']);
  if (rand() < 0.2) labels['gpu'] = 'nvidia';
  if (rand() < 0.15) labels[DEDICATED_LABEL] = pick(rand, TENANTS);
  return {
    // Zero-padded ids in a shuffled order, so the tie-break is exercised.
    id: `host-${String(index).padStart(3, '0')}`,
    state: pick(rand, STATES),
    drivers: rand() < 0.9 ? ['docker'] : ['vm'],
    labels,
    images: rand() < 0.9 ? [IMAGE] : [],
    capacity: { cpuMillis: pick(rand, [1000, 2000, 4000, 8000]), memoryMiB: pick(rand, [1024, 2048, 8192]), pids: pick(rand, [512, 4096]) },
    allocated: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
  };
}

function randomRequest(rand: Rand): PlacementRequest {
  const constraints = rand() < 0.4 ? [pick(rand, CONSTRAINTS)] : [];
  return {
    tenantId: pick(rand, TENANTS),
    driver: 'docker',
    image: IMAGE,
    resources: { cpuMillis: pick(rand, [100, 250, 500, 1000, 3000]), memoryMiB: pick(rand, [64, 256, 512, 1024]), pids: pick(rand, [16, 128]) },
    constraints,
    antiAffinityGroup: rand() < 0.3 ? pick(rand, ['db', 'web']) : null,
    affinityGroup: rand() < 0.1 ? 'cache' : null,
    policy: rand() < 0.2 ? pick(rand, ['binpack', 'spread'] as const) : null,
    dedicated: rand() < 0.1,
  };
}

interface Placed {
  hostId: string;
  request: PlacementRequest;
}

/** The hosts as the scheduler would load them for `request`: the tenant's group membership attached. */
function viewFor(hosts: readonly HostSnapshot[], placed: readonly Placed[], request: PlacementRequest): HostSnapshot[] {
  return hosts.map((host) => {
    const mine = placed.filter((p) => p.hostId === host.id && p.request.tenantId === request.tenantId);
    return {
      ...host,
      affinityGroups: mine.flatMap((p) => (p.request.affinityGroup ? [p.request.affinityGroup] : [])),
      antiAffinityGroups: mine.flatMap((p) => (p.request.antiAffinityGroup ? [p.request.antiAffinityGroup] : [])),
    };
  });
}

function shuffled<T>(rand: Rand, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(rand() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

const SEEDS = Array.from({ length: 100 }, (_, i) => 0x5eed + i * 7919);

describe('placement properties over random clusters', () => {
  it.each(SEEDS)('seed %i: capacity (with ratios and reservations) never exceeded, anti-affinity and every filter hold, same input → same choice', (seed) => {
    const rand = prng(seed);
    const settings = randomSettings(rand);
    let hosts = Array.from({ length: int(rand, 1, 25) }, (_, i) => randomHost(rand, i));
    const placed: Placed[] = [];

    for (let step = 0; step < 120; step += 1) {
      const request = randomRequest(rand);
      const view = viewFor(hosts, placed, request);
      const ranked = rankHosts(view, request, settings);
      const choice = ranked[0] ?? null;

      // Same input, any order of hosts → same choice; and explain agrees with rank.
      expect(rankHosts(shuffled(rand, view), request, settings)[0]?.id ?? null).toBe(choice?.id ?? null);
      expect(explainPlacement(view, request, settings).choice).toBe(choice?.id ?? null);

      if (!choice) continue;
      // The chosen host passes every filter, checked here independently of the filter code.
      expect(choice.state).toBe('ready');
      expect(choice.images).toContain(IMAGE);
      for (const text of request.constraints ?? []) expect(labelsSatisfy(choice.labels, parseConstraint(text))).toBe(true);
      const dedicatedTo = choice.labels[DEDICATED_LABEL];
      if (dedicatedTo !== undefined) expect(dedicatedTo).toBe(request.tenantId);
      if (request.dedicated) expect(dedicatedTo).toBe(request.tenantId);
      if (request.antiAffinityGroup) {
        expect(placed.some((p) => p.hostId === choice.id && p.request.tenantId === request.tenantId && p.request.antiAffinityGroup === request.antiAffinityGroup)).toBe(false);
      }
      const unit = maxUnit(choice.capacity, settings);
      expect(request.resources.cpuMillis).toBeLessThanOrEqual(unit.cpuMillis);

      placed.push({ hostId: choice.id, request });
      hosts = hosts.map((host) =>
        host.id === choice.id
          ? {
              ...host,
              allocated: {
                cpuMillis: host.allocated.cpuMillis + request.resources.cpuMillis,
                memoryMiB: host.allocated.memoryMiB + request.resources.memoryMiB,
                pids: host.allocated.pids + request.resources.pids,
              },
            }
          : host,
      );
      // Invariant after every claim: no host beyond (capacity − reserved) × ratio on any resource.
      // (Plain checks collected into one expect: a million expect() calls would dominate the run.)
      const overcommitted = hosts.filter((host) => {
        const effective = effectiveCapacity(host.capacity, settings);
        return host.allocated.cpuMillis > effective.cpuMillis || host.allocated.memoryMiB > effective.memoryMiB || host.allocated.pids > effective.pids;
      });
      expect(overcommitted).toEqual([]);
    }
    // Affinity: members placed after the first of their tenant's group share its host.
    for (const tenant of TENANTS) {
      const cacheHosts = new Set(placed.filter((p) => p.request.tenantId === tenant && p.request.affinityGroup === 'cache').map((p) => p.hostId));
      expect(cacheHosts.size).toBeLessThanOrEqual(1);
    }
  });

  it('default settings overcommit CPU by 4 and never memory', () => {
    expect(DEFAULT_PLACEMENT_SETTINGS.allocationRatios).toEqual({ cpuMillis: 4, memoryMiB: 1, pids: 1 });
  });
});

describe('quota properties', () => {
  it.each(SEEDS.slice(0, 50))('seed %i: charging only what quotaViolation allows never exceeds a limit', (seed) => {
    const rand = prng(seed);
    const limits = { cpuMillis: int(rand, 0, 20_000), memoryMiB: int(rand, 0, 20_000), pids: int(rand, 0, 20_000), workloads: int(rand, 0, 50), vms: int(rand, 0, 5) };
    const used = { cpuMillis: 0, memoryMiB: 0, pids: 0, workloads: 0, vms: 0 };
    for (let step = 0; step < 200; step += 1) {
      const delta = quotaDeltaOf({ kind: pick(rand, ['container', 'vm']), cpuMillis: pick(rand, [10, 500, 2000]), memoryMiB: pick(rand, [16, 512, 4096]), pids: pick(rand, [64, 256, 4096]) });
      const violation = quotaViolation(limits, used, delta);
      if (violation) {
        expect(violation.used + violation.requested).toBeGreaterThan(violation.limit);
        continue;
      }
      for (const key of ['cpuMillis', 'memoryMiB', 'workloads', 'vms'] as const) used[key] += delta[key];
      for (const key of ['cpuMillis', 'memoryMiB', 'workloads', 'vms'] as const) expect(used[key]).toBeLessThanOrEqual(limits[key]);
    }
  });
});
