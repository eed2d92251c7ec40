import type { EntityManager } from 'typeorm';
import { FULL_RELOAD_MS, HostIndex } from './host-index';
import { DEDICATED_LABEL, normalizeImageRef, rankHosts, type HostSnapshot, type HostState, type PlacementRequest, type PlacementSettings } from './placement';
import { hostTupleOf } from './testing/host-tuples';
import { int, pick, prng, type Rand } from './testing/seeded-random';

/**
 * The host index returns what `rankHosts` returns on the same picture, top `limit` in the same
 * order — over random clusters (few capacity shapes, so classes have many members, many hosts
 * with equal allocation, full hosts), random settings and requests, and a stream of changes
 * between creates: own claims, other replicas' claims and releases, state, label, capacity and
 * image changes, new hosts, late commits (a row whose `updated_at` is older than the previous
 * refresh), invalidations. The "database" is a fake behind the EntityManager the index reads
 * through, answering its three queries by their shape. Seeded (mulberry32): a failure names
 * the seed.
 */


const IMAGE = 'gureum/prop:1';
const OTHER_IMAGE = 'gureum/other:2';
const PULLED = 'registry.example.com/team/app:3';
const TENANTS = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'];
const STATES: HostState[] = ['ready', 'ready', 'ready', 'ready', 'ready', 'cordoned', 'draining', 'lost'];
const CONSTRAINTS = ['zone=a', 'zone!=a', 'disk=ssd', '!gpu', 'gpu'];
const REFRESH_MS = 500;

interface Row extends HostSnapshot {
  updatedAt: number;
}

/** The hosts table as the index's three queries see it, with a clock of its own. */
class FakeHosts {
  rows = new Map<string, Row>();
  clock = 1_000_000;
  reads = { full: 0, incremental: 0, rowsRead: 0, pooled: 0 };
  /** While set, reads through a pooled connection answer (what the table held when they were sent) only once it resolves. */
  holdPooled: Promise<void> | null = null;

  /** A manager without a connection of its own, as `DataSource.manager`: the index's background reads. */
  private readonly pooled = {
    queryRunner: {
      query: (text: string, params: unknown[]) => {
        this.reads.pooled += 1;
        const records = this.answer(text, params);
        return (this.holdPooled ?? Promise.resolve()).then(() => ({ records }));
      },
    },
  };

  /** The caller's manager, holding a connection (a create's transaction). */
  readonly manager = {
    queryRunner: {
      query: (text: string, params: unknown[]) => Promise.resolve({ records: this.answer(text, params) }),
    },
    connection: { manager: this.pooled },
  } as unknown as EntityManager;

  private answer(text: string, params: unknown[]): unknown[] {
    if (text.includes('"images" @>')) return [...this.rows.values()].filter((row) => row.images.includes(params[0] as string)).map((row) => ({ id: row.id }));
    const at = new Date(this.clock);
    const followed = params[0] as string[];
    let rows: Row[];
    if (text.includes('"updated_at" >')) {
      const since = (params[1] as Date).getTime();
      rows = [...this.rows.values()].filter((row) => row.updatedAt > since);
      this.reads.incremental += 1;
    } else if (text.includes(`"state" = 'ready'`)) {
      rows = [...this.rows.values()].filter((row) => row.state === 'ready');
      this.reads.full += 1;
    } else throw new Error(`unexpected query: ${text}`);
    this.reads.rowsRead += rows.length;
    return [
      {
        at,
        hosts: rows.map((row) => hostTupleOf(row, followed)),
      },
    ];
  }

  write(id: string, change: Partial<HostSnapshot>, updatedAt = this.clock): void {
    const row = this.rows.get(id)!;
    this.rows.set(id, { ...row, ...change, updatedAt });
  }
}

function randomSettings(rand: Rand): PlacementSettings {
  return {
    allocationRatios: { cpuMillis: pick(rand, [1, 1.5, 4]), memoryMiB: pick(rand, [1, 1, 1.2]), pids: pick(rand, [1, 2]) },
    reserved: { cpuMillis: pick(rand, [0, 250]), memoryMiB: pick(rand, [0, 256]), pids: pick(rand, [0, 100]) },
    policy: pick(rand, ['binpack', 'spread'] as const),
    weights: { cpu: pick(rand, [0, 1, 2]), memory: pick(rand, [0, 1, 3]) },
    // A replica's shard: its hosts first, then the rest (the index walks each part on its own).
    shard: pick(rand, [null, null, { index: 0, count: 2 }, { index: 1, count: 3 }, { index: 0, count: 1 }]),
  };
}

function randomLabels(rand: Rand): Record<string, string> {
  const labels: Record<string, string> = { zone: pick(rand, ['a', 'b']) };
  if (rand() < 0.3) labels['disk'] = 'ssd';
  if (rand() < 0.1) labels['gpu'] = 'nvidia';
  if (rand() < 0.1) labels[DEDICATED_LABEL] = pick(rand, TENANTS);
  return labels;
}

const CAPACITIES = [
  { cpuMillis: 2000, memoryMiB: 2048, pids: 1024 },
  { cpuMillis: 8000, memoryMiB: 8192, pids: 4096 },
];

function randomHost(rand: Rand, index: number, clock: number): Row {
  const capacity = pick(rand, CAPACITIES);
  // Many hosts with the same allocation (empty, or one of a few steps), some full.
  const step = pick(rand, [0, 0, 0, 0.25, 0.5, 1]);
  return {
    id: `host-${String(index).padStart(4, '0')}`,
    state: pick(rand, STATES),
    drivers: rand() < 0.9 ? ['docker'] : ['docker', 'vm'],
    labels: randomLabels(rand),
    images: rand() < 0.85 ? [IMAGE] : rand() < 0.5 ? [IMAGE, OTHER_IMAGE] : [],
    capacity,
    allocated: { cpuMillis: Math.floor(capacity.cpuMillis * 2 * step), memoryMiB: Math.floor(capacity.memoryMiB * step), pids: Math.floor(capacity.pids * step * 0.5) },
    updatedAt: clock,
  };
}

function randomRequest(rand: Rand): PlacementRequest {
  return {
    tenantId: pick(rand, TENANTS),
    driver: rand() < 0.9 ? 'docker' : 'vm',
    image: pick(rand, [IMAGE, IMAGE, IMAGE, OTHER_IMAGE, PULLED]),
    resources: { cpuMillis: pick(rand, [100, 250, 500, 2000]), memoryMiB: pick(rand, [64, 256, 1024]), pids: pick(rand, [16, 128]) },
    constraints: rand() < 0.3 ? [pick(rand, CONSTRAINTS)] : [],
    policy: rand() < 0.3 ? pick(rand, ['binpack', 'spread'] as const) : null,
    dedicated: rand() < 0.05,
  };
}

/** What rankHosts says on the fake table (images as the index's per-image lookup sees them). */
function expected(table: FakeHosts, request: PlacementRequest, settings: PlacementSettings, limit: number): string[] {
  const image = normalizeImageRef(request.image);
  const hosts = [...table.rows.values()]
    .filter((row) => row.state === 'ready')
    .map(({ updatedAt: _, ...host }) => ({ ...host, images: host.images.includes(image) || request.image === PULLED ? [image] : [] }));
  return rankHosts(hosts, request, settings, false)
    .slice(0, limit)
    .map((host) => host.id);
}

function mutate(rand: Rand, table: FakeHosts, nextId: () => number): void {
  const ids = [...table.rows.keys()];
  const id = pick(rand, ids);
  const row = table.rows.get(id)!;
  const roll = rand();
  if (roll < 0.3) {
    // Another replica's claim or a release.
    const delta = pick(rand, [-500, -100, 100, 250, 1000]);
    table.write(id, {
      allocated: {
        cpuMillis: Math.max(0, row.allocated.cpuMillis + delta),
        memoryMiB: Math.max(0, row.allocated.memoryMiB + delta),
        pids: Math.max(0, row.allocated.pids + Math.sign(delta) * 16),
      },
    });
  } else if (roll < 0.45) table.write(id, { state: pick(rand, STATES) });
  else if (roll < 0.55) table.write(id, { labels: randomLabels(rand) });
  else if (roll < 0.62) table.write(id, { capacity: pick(rand, CAPACITIES) });
  else if (roll < 0.7) table.write(id, { images: rand() < 0.5 ? [IMAGE] : [OTHER_IMAGE] });
  else if (roll < 0.8) {
    const host = randomHost(rand, nextId(), table.clock);
    table.rows.set(host.id, host);
  } else {
    // A transaction that started before the previous refresh and committed after it.
    table.write(id, { allocated: { ...row.allocated, cpuMillis: row.allocated.cpuMillis + 100 } }, table.clock - REFRESH_MS - int(rand, 1, 3000));
  }
}

describe('HostIndex (property)', () => {
  it('returns exactly the top candidates rankHosts would, after every kind of change', async () => {
    let compared = 0;
    let nonEmpty = 0;
    for (let seed = 1; seed <= 60; seed += 1) {
      const rand = prng(seed);
      const table = new FakeHosts();
      let settings = randomSettings(rand);
      let count = int(rand, 5, 250);
      for (let i = 0; i < count; i += 1) {
        const host = randomHost(rand, i, table.clock);
        table.rows.set(host.id, host);
      }
      const index = new HostIndex(REFRESH_MS, { now: () => table.clock });
      for (let step = 0; step < 60; step += 1) {
        const request = randomRequest(rand);
        const limit = pick(rand, [1, 3, 8, 32, 500]);
        const got = (await index.candidates(table.manager, request, settings, limit)).map((host) => host.id);
        const want = expected(table, request, settings, limit);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(`seed ${seed} step ${step}: index gave ${JSON.stringify(got)}, rankHosts ${JSON.stringify(want)} for ${JSON.stringify(request)} limit ${limit}`);
        }
        compared += 1;
        if (want.length > 0) nonEmpty += 1;

        // This replica claims on the host it would try first, as claimBestHost does.
        if (got.length > 0 && rand() < 0.8) {
          const chosen = table.rows.get(got[0]!)!;
          const allocated = {
            cpuMillis: chosen.allocated.cpuMillis + request.resources.cpuMillis,
            memoryMiB: chosen.allocated.memoryMiB + request.resources.memoryMiB,
            pids: chosen.allocated.pids + request.resources.pids,
          };
          table.write(chosen.id, { allocated });
          index.claimed(chosen.id, request.resources);
        }
        // Changes by others, visible after the next refresh.
        if (rand() < 0.5) {
          for (let m = int(rand, 1, 4); m > 0; m -= 1) mutate(rand, table, () => count++);
          table.clock += REFRESH_MS + int(rand, 0, 200);
        }
        // Past the period of the full read now and then (it runs in the background).
        if (rand() < 0.04) table.clock += FULL_RELOAD_MS;
        if (rand() < 0.05) index.invalidate();
        if (rand() < 0.03) settings = { ...settings, weights: { cpu: pick(rand, [0, 1, 2]), memory: pick(rand, [0, 1, 3]) } };
        table.clock += int(rand, 0, 50);
      }
    }
    expect(compared).toBe(60 * 60);
    // The comparison is not vacuous.
    expect(nonEmpty).toBeGreaterThan(compared / 2);
  });

  it('names the tenants the ready hosts are dedicated to, as the table says after every refresh', async () => {
    const table = new FakeHosts();
    const rand = prng(11);
    for (let i = 0; i < 200; i += 1) {
      const host = randomHost(rand, i, table.clock - 60_000);
      table.rows.set(host.id, host);
    }
    const index = new HostIndex(REFRESH_MS, { now: () => table.clock });
    const expected = () => new Set([...table.rows.values()].filter((row) => row.state === 'ready' && row.labels[DEDICATED_LABEL] !== undefined).map((row) => row.labels[DEDICATED_LABEL]!));
    let nonEmpty = 0;
    for (let round = 0; round < 40; round += 1) {
      for (let change = 0; change < 5; change += 1) {
        const id = `host-${String(int(rand, 0, 199)).padStart(4, '0')}`;
        const { [DEDICATED_LABEL]: _dedicated, ...others } = table.rows.get(id)!.labels;
        const labels = rand() < 0.5 ? others : { ...others, [DEDICATED_LABEL]: pick(rand, TENANTS) };
        table.write(id, rand() < 0.5 ? { labels } : { state: pick(rand, STATES) });
      }
      table.clock += REFRESH_MS;
      const tenants = await index.dedicatedTenants(table.manager);
      expect([...tenants].sort()).toEqual([...expected()].sort());
      if (tenants.size > 0) nonEmpty += 1;
    }
    // Not vacuous: some rounds had dedicated hosts.
    expect(nonEmpty).toBeGreaterThan(5);
    expect(await new HostIndex(0).dedicatedTenants(table.manager)).toEqual(new Set());
  });

  it('reads only changed rows after the first load', async () => {
    const table = new FakeHosts();
    const rand = prng(7);
    for (let i = 0; i < 1000; i += 1) {
      // Written a minute ago: older than the refresh margin.
      const host = { ...randomHost(rand, i, table.clock - 60_000), state: 'ready' as const };
      table.rows.set(host.id, host);
    }
    const index = new HostIndex(REFRESH_MS, { now: () => table.clock });
    const request: PlacementRequest = { tenantId: TENANTS[0]!, driver: 'docker', image: IMAGE, resources: { cpuMillis: 100, memoryMiB: 64, pids: 16 } };
    const settings = randomSettings(rand);
    await index.candidates(table.manager, request, settings, 32);
    expect(table.reads).toMatchObject({ full: 1, incremental: 0, rowsRead: 1000 });
    table.clock += 10_000;
    table.write('host-0007', { state: 'cordoned' });
    table.clock += REFRESH_MS;
    await index.candidates(table.manager, request, settings, 32);
    expect(table.reads).toMatchObject({ full: 1, incremental: 1, rowsRead: 1001 });
    expect(index.size).toBe(999);
  });

  it('runs the periodic full read beside the creates, and loses nothing written while it ran', async () => {
    const table = new FakeHosts();
    const rand = prng(5);
    for (let i = 0; i < 50; i += 1) {
      const host = { ...randomHost(rand, i, table.clock - 60_000), state: 'ready' as const, images: [IMAGE], labels: { zone: 'a' }, allocated: { cpuMillis: 0, memoryMiB: 0, pids: 0 } };
      table.rows.set(host.id, host);
    }
    const index = new HostIndex(REFRESH_MS, { now: () => table.clock });
    const request: PlacementRequest = { tenantId: TENANTS[0]!, driver: 'docker', image: IMAGE, resources: { cpuMillis: 100, memoryMiB: 64, pids: 16 } };
    const settings = randomSettings(rand);
    const ids = async () => (await index.candidates(table.manager, request, settings, 500)).map((host) => host.id);
    await ids();
    expect(table.reads).toMatchObject({ full: 1, pooled: 0 });

    // A commit only a full read sees (older than any refresh's margin) takes host-0003 away.
    table.write('host-0003', { state: 'cordoned' }, table.clock - 60_000);
    table.clock += FULL_RELOAD_MS;
    let release!: () => void;
    table.holdPooled = new Promise((resolve) => (release = resolve));
    // Due: the answer does not wait for it (the held read would never let it through).
    expect(await ids()).toContain('host-0003');
    // (The refresh that was due anyway ran in front: it reads only changed rows.)
    expect(table.reads).toMatchObject({ full: 2, pooled: 1, incremental: 1 });
    // Written while the full read runs, after what it read: a claim on host-0001 and a new host.
    table.clock += 100;
    table.write('host-0001', { allocated: { cpuMillis: 700, memoryMiB: 640, pids: 16 } });
    table.rows.set('host-0099', { ...table.rows.get('host-0002')!, id: 'host-0099', updatedAt: table.clock });
    release();
    await new Promise((resolve) => setImmediate(resolve));
    // Done: what it read, and then the rows changed since, before the next answer (no refresh period had to pass).
    const after = await ids();
    expect(after).toEqual(expected(table, request, settings, 500));
    expect(after).not.toContain('host-0003');
    expect(after).toContain('host-0099');
    expect(table.reads).toMatchObject({ full: 2, pooled: 1, incremental: 2 });
    // Not again before another period.
    table.clock += REFRESH_MS;
    await ids();
    expect(table.reads).toMatchObject({ full: 2, pooled: 1, incremental: 3 });
  });

  it('a full read that fails in the background is tried again a period later, and answers go on', async () => {
    const table = new FakeHosts();
    const rand = prng(6);
    for (let i = 0; i < 20; i += 1) table.rows.set(`host-${String(i).padStart(4, '0')}`, { ...randomHost(rand, i, table.clock - 60_000), state: 'ready' as const });
    const errors: unknown[] = [];
    const index = new HostIndex(REFRESH_MS, { now: () => table.clock, onReloadError: (error) => errors.push(error) });
    const request: PlacementRequest = { tenantId: TENANTS[0]!, driver: 'docker', image: IMAGE, resources: { cpuMillis: 100, memoryMiB: 64, pids: 16 } };
    const settings = randomSettings(rand);
    await index.candidates(table.manager, request, settings, 8);
    table.clock += FULL_RELOAD_MS;
    table.holdPooled = Promise.reject(new Error('connection refused'));
    table.holdPooled.catch(() => undefined);
    expect(await index.candidates(table.manager, request, settings, 8)).toHaveLength(expected(table, request, settings, 8).length);
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toEqual([new Error('connection refused')]);
    table.holdPooled = null;
    table.clock += REFRESH_MS;
    await index.candidates(table.manager, request, settings, 8);
    expect(table.reads.pooled).toBe(1);
    table.clock += FULL_RELOAD_MS;
    await index.candidates(table.manager, request, settings, 8);
    expect(table.reads.pooled).toBe(2);
  });
});
