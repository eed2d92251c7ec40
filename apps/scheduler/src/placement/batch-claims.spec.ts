import type { QuotaView } from '@gureum/contracts';
import { settleBatch, type BatchMember } from './batch-claims';
import { DEFAULT_PLACEMENT_SETTINGS, type HostSnapshot, type PlacementSettings } from './placement';

const IMAGE = 'gureum/busybox:latest';
const TENANT = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';
const exact: PlacementSettings = { ...DEFAULT_PLACEMENT_SETTINGS, allocationRatios: { cpuMillis: 1, memoryMiB: 1, pids: 1 } };

function host(id: string, overrides: Partial<HostSnapshot> = {}): HostSnapshot {
  return {
    id,
    state: 'ready',
    drivers: ['docker'],
    labels: {},
    images: [IMAGE],
    capacity: { cpuMillis: 1000, memoryMiB: 1024, pids: 1000 },
    allocated: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
    ...overrides,
  };
}

function member(cpuMillis: number, candidates: string[], tenantId = TENANT): BatchMember {
  return {
    request: { tenantId, driver: 'docker', image: IMAGE, resources: { cpuMillis, memoryMiB: 1, pids: 1 } },
    quota: { cpuMillis, memoryMiB: 1, pids: 1, workloads: 1, vms: 0 },
    candidates,
  };
}

const roomy: QuotaView = { limits: { cpuMillis: 1e9, memoryMiB: 1e9, pids: 1e9, workloads: 1e9, vms: 1e9 }, used: { cpuMillis: 0, memoryMiB: 0, pids: 0, workloads: 0, vms: 0 } };
const hostsOf = (...hosts: HostSnapshot[]) => new Map(hosts.map((h) => [h.id, h]));
const quotasOf = (entries: Array<[string, QuotaView]> = [[TENANT, roomy], [OTHER, roomy]]) => new Map(entries);

describe('settleBatch', () => {
  it('counts earlier members on the locked row: fills the first candidate, then moves on, never past capacity', () => {
    const settled = settleBatch([member(400, ['a', 'b']), member(400, ['a', 'b']), member(400, ['a', 'b']), member(400, ['a', 'b']), member(400, ['a', 'b'])], hostsOf(host('a'), host('b')), quotasOf(), exact);
    expect(settled).toEqual([
      { kind: 'placed', hostId: 'a' },
      { kind: 'placed', hostId: 'a' },
      { kind: 'placed', hostId: 'b' },
      { kind: 'placed', hostId: 'b' },
      { kind: 'no_room' },
    ]);
  });

  it('re-checks what another writer already holds on the row (the locked version, not the picture)', () => {
    const settled = settleBatch([member(300, ['a']), member(100, ['a'])], hostsOf(host('a', { allocated: { cpuMillis: 800, memoryMiB: 0, pids: 0 } })), quotasOf(), exact);
    expect(settled).toEqual([{ kind: 'no_room' }, { kind: 'placed', hostId: 'a' }]);
  });

  it('re-runs every filter on the locked row: a host that left ready or lost the image is not taken', () => {
    const settled = settleBatch([member(100, ['cordoned', 'no-image', 'ok'])], hostsOf(host('cordoned', { state: 'cordoned' }), host('no-image', { images: [] }), host('ok')), quotasOf(), exact);
    expect(settled).toEqual([{ kind: 'placed', hostId: 'ok' }]);
  });

  it('never accepts a candidate that was not locked', () => {
    expect(settleBatch([member(100, ['unlocked'])], hostsOf(host('a')), quotasOf(), exact)).toEqual([{ kind: 'no_room' }]);
  });

  it('decides quotas per member in order: over-quota members fail alone, a later smaller one still fits, other tenants are untouched', () => {
    const tight: QuotaView = { limits: { ...roomy.limits, cpuMillis: 1000 }, used: { cpuMillis: 300, memoryMiB: 0, pids: 0, workloads: 0, vms: 0 } };
    const settled = settleBatch(
      [member(500, ['a']), member(400, ['b']), member(100, ['b'], OTHER), member(200, ['b']), member(100, ['b'])],
      hostsOf(host('a'), host('b')),
      quotasOf([
        [TENANT, tight],
        [OTHER, roomy],
      ]),
      exact,
    );
    expect(settled).toEqual([
      { kind: 'placed', hostId: 'a' },
      { kind: 'quota_exceeded', violation: { quota: 'cpuMillis', limit: 1000, used: 800, requested: 400 } },
      { kind: 'placed', hostId: 'b' },
      { kind: 'placed', hostId: 'b' },
      { kind: 'quota_exceeded', violation: { quota: 'cpuMillis', limit: 1000, used: 1000, requested: 100 } },
    ]);
  });

  it('a member that found no room takes no quota from the later ones', () => {
    const tight: QuotaView = { limits: { ...roomy.limits, workloads: 1 }, used: { cpuMillis: 0, memoryMiB: 0, pids: 0, workloads: 0, vms: 0 } };
    const settled = settleBatch([member(2000, ['a']), member(100, ['a'])], hostsOf(host('a')), quotasOf([[TENANT, tight]]), exact);
    expect(settled).toEqual([{ kind: 'no_room' }, { kind: 'placed', hostId: 'a' }]);
  });

  it('refuses to settle a member whose quota row was not locked', () => {
    expect(() => settleBatch([member(100, ['a'])], hostsOf(host('a')), quotasOf([]), exact)).toThrow(/not locked/);
  });
});
