import type { EntityManager } from 'typeorm';
import { CANDIDATES_PER_MEMBER } from './batch-claims';
import { BatchRanker } from './batch-ranking';
import { HostIndex } from './host-index';
import { DEDICATED_LABEL, DEFAULT_PLACEMENT_SETTINGS, rankHosts, type HostSnapshot, type PlacementRequest, type PlacementSettings, type PlacementShard } from './placement';
import { hostTupleOf } from './testing/host-tuples';
import { prng } from './testing/seeded-random';

/** mulberry32, as in placement.property.spec.ts. */
const IMAGES = ['gureum/a:1', 'gureum/b:1'];
const TENANTS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];

/** A real HostIndex over a fake database holding `hosts` (the index only reads). */
function indexOver(hosts: HostSnapshot[]): { index: HostIndex; manager: EntityManager } {
  // As the index's reads return them; it follows no image before a create asks.
  const tuples = hosts.filter((host) => host.state === 'ready').map((host) => hostTupleOf(host, []));
  const query = async (text: string, params: unknown[] = []) => ({
    records: text.includes('"images" @>') ? hosts.filter((host) => host.images.includes(params[0] as string)).map((host) => ({ id: host.id })) : [{ at: new Date(), hosts: tuples }],
  });
  return { index: new HostIndex(1e9), manager: { queryRunner: { query } } as unknown as EntityManager };
}

function cluster(random: () => number): HostSnapshot[] {
  return Array.from({ length: 20 + Math.floor(random() * 60) }, (_, i) => {
    const cpu = [2000, 4000, 8000][Math.floor(random() * 3)]!;
    const memory = [2048, 4096, 8192][Math.floor(random() * 3)]!;
    const labels: Record<string, string> = { zone: random() < 0.5 ? 'a' : 'b' };
    if (random() < 0.1) labels[DEDICATED_LABEL] = TENANTS[Math.floor(random() * 2)]!;
    return {
      id: `h-${String(i).padStart(3, '0')}`,
      state: random() < 0.9 ? 'ready' : 'cordoned',
      drivers: ['docker'],
      labels,
      images: IMAGES.filter(() => random() < 0.8),
      capacity: { cpuMillis: cpu, memoryMiB: memory, pids: 10_000 },
      allocated: { cpuMillis: Math.floor(random() * cpu * 0.8), memoryMiB: Math.floor(random() * memory * 0.8), pids: 0 },
    };
  });
}

function requestOf(random: () => number): PlacementRequest {
  return {
    tenantId: TENANTS[Math.floor(random() * TENANTS.length)]!,
    driver: 'docker',
    image: IMAGES[Math.floor(random() * IMAGES.length)]!,
    resources: { cpuMillis: [100, 250, 500][Math.floor(random() * 3)]!, memoryMiB: [128, 256][Math.floor(random() * 2)]!, pids: 8 },
    ...(random() < 0.2 ? { constraints: ['zone=a'] } : {}),
    ...(random() < 0.2 ? { policy: 'spread' as const } : {}),
    ...(random() < 0.1 ? { dedicated: true } : {}),
  };
}

/** Every member ranked alone on the whole fleet, with the earlier members' first choices claimed. */
function rankAlone(hosts: HostSnapshot[], requests: PlacementRequest[], settings: PlacementSettings, givesBack: ReadonlySet<number> = new Set()): string[][] {
  const fleet = hosts.map((host) => ({ ...host }));
  return requests.map((request, i) => {
    const view = fleet.map((host) => ({ ...host, images: host.images.includes(request.image) ? [request.image] : [] }));
    const ranked = rankHosts(view, request, settings, false).slice(0, CANDIDATES_PER_MEMBER);
    const first = ranked[0] && !givesBack.has(i) ? fleet.find((host) => host.id === ranked[0]!.id)! : undefined;
    if (first) {
      first.allocated = {
        cpuMillis: first.allocated.cpuMillis + request.resources.cpuMillis,
        memoryMiB: first.allocated.memoryMiB + request.resources.memoryMiB,
        pids: first.allocated.pids + request.resources.pids,
      };
    }
    return ranked.map((host) => host.id);
  });
}

/** No shard half the time, else one of two or three (the shard's hosts rank first). */
function shardOf(random: () => number): PlacementShard | null {
  const pick = random();
  return pick < 0.5 ? null : pick < 0.75 ? { index: 1, count: 2 } : { index: 2, count: 3 };
}

describe('BatchRanker', () => {
  it('ranks every member exactly as ranking it alone on the picture with the earlier claims would (100 random batches)', async () => {
    for (let seed = 1; seed <= 100; seed += 1) {
      const random = prng(seed);
      const hosts = cluster(random);
      const settings: PlacementSettings = { ...DEFAULT_PLACEMENT_SETTINGS, policy: random() < 0.5 ? 'binpack' : 'spread', shard: shardOf(random) };
      const requests = Array.from({ length: 1 + Math.floor(random() * 60) }, () => requestOf(random));
      const dedicated = new Set(hosts.flatMap((host) => (host.labels[DEDICATED_LABEL] ? [host.labels[DEDICATED_LABEL]] : [])));
      const { index, manager } = indexOver(hosts);
      const ranker = new BatchRanker(index, settings, 1e9);
      ranker.begin(manager, dedicated, requests.length);
      const batched: string[][] = [];
      for (const request of requests) batched.push((await ranker.rank(request)).map((host) => host.id));
      expect({ seed, ranking: batched }).toEqual({ seed, ranking: rankAlone(hosts, requests, settings) });
    }
  });

  it('stays exact across batches (claims carried over, claims given back returned)', async () => {
    for (let seed = 200; seed < 240; seed += 1) {
      const random = prng(seed);
      const hosts = cluster(random);
      const settings: PlacementSettings = { ...DEFAULT_PLACEMENT_SETTINGS, policy: random() < 0.5 ? 'binpack' : 'spread', shard: shardOf(random) };
      const dedicated = new Set(hosts.flatMap((host) => (host.labels[DEDICATED_LABEL] ? [host.labels[DEDICATED_LABEL]] : [])));
      const { index, manager } = indexOver(hosts);
      const ranker = new BatchRanker(index, settings, 1e9);
      const all: PlacementRequest[] = [];
      const givesBack = new Set<number>();
      const batched: string[][] = [];
      for (let batch = 0; batch < 4; batch += 1) {
        const requests = Array.from({ length: 1 + Math.floor(random() * 20) }, () => requestOf(random));
        ranker.begin(manager, dedicated, requests.length);
        for (const request of requests) {
          const ranked = await ranker.rank(request);
          batched.push(ranked.map((host) => host.id));
          // Some members take nothing after all (over quota, say): given back to the ranker and the index.
          if (ranked[0] && random() < 0.2) {
            givesBack.add(all.length);
            ranker.release(ranked[0].id, request.resources);
            const { cpuMillis, memoryMiB, pids } = request.resources;
            index.claimed(ranked[0].id, { cpuMillis: -cpuMillis, memoryMiB: -memoryMiB, pids: -pids });
          }
          all.push(request);
        }
      }
      expect({ seed, ranking: batched }).toEqual({ seed, ranking: rankAlone(hosts, all, settings, givesBack) });
    }
  });

  it('asks the index for one full ranking per request shape, not per member', async () => {
    const hosts = cluster(prng(7));
    const { index, manager } = indexOver(hosts);
    const candidates = jest.spyOn(index, 'candidates');
    const ranker = new BatchRanker(index, DEFAULT_PLACEMENT_SETTINGS, 1e9);
    ranker.begin(manager, new Set(), 40);
    const shape = (tenantId: string): PlacementRequest => ({ tenantId, driver: 'docker', image: IMAGES[0]!, resources: { cpuMillis: 100, memoryMiB: 128, pids: 8 } });
    for (let i = 0; i < 40; i += 1) await ranker.rank(shape(TENANTS[i % TENANTS.length]!));
    expect(candidates).toHaveBeenCalledTimes(1);
  });
});
