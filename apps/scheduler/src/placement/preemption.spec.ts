import { DEFAULT_PLACEMENT_SETTINGS, type HostSnapshot, type PlacementRequest, type PlacementSettings } from './placement';
import { planPreemption, type PreemptionCandidate } from './preemption';

const IMAGE = 'gureum/busybox:latest';
const TENANT = '11111111-1111-4111-8111-111111111111';
const exact: PlacementSettings = { ...DEFAULT_PLACEMENT_SETTINGS, allocationRatios: { cpuMillis: 1, memoryMiB: 1, pids: 1 } };
const request: PlacementRequest = { tenantId: TENANT, driver: 'docker', image: IMAGE, resources: { cpuMillis: 600, memoryMiB: 64, pids: 8 } };

function fullHost(id: string, overrides: Partial<HostSnapshot> = {}): HostSnapshot {
  return {
    id,
    state: 'ready',
    drivers: ['docker'],
    labels: {},
    images: [IMAGE],
    capacity: { cpuMillis: 1000, memoryMiB: 1024, pids: 1024 },
    allocated: { cpuMillis: 1000, memoryMiB: 300, pids: 30 },
    ...overrides,
  };
}

function victim(workloadId: string, hostId: string, priority: number, cpuMillis: number, extra: Partial<PreemptionCandidate> = {}): PreemptionCandidate {
  return { workloadId, hostId, priority, preemptible: true, resources: { cpuMillis, memoryMiB: 100, pids: 10 }, createdAt: 0, ...extra };
}

describe('planPreemption', () => {
  it('stops the lowest-priority preemptible workloads on one host until the request fits', () => {
    const candidates = [victim('v-high', 'h1', 50, 500), victim('v-low', 'h1', 10, 300), victim('v-mid', 'h1', 20, 400)];
    expect(planPreemption([fullHost('h1')], candidates, request, 100, exact)).toEqual({ hostId: 'h1', victims: ['v-low', 'v-mid'] });
  });

  it('never preempts equal or higher priorities, nor workloads that did not opt in', () => {
    const candidates = [victim('same', 'h1', 100, 1000), victim('higher', 'h1', 200, 1000), victim('not-opted', 'h1', 0, 1000, { preemptible: false })];
    expect(planPreemption([fullHost('h1')], candidates, request, 100, exact)).toBeNull();
  });

  it('prefers the host whose worst victim has the lowest priority, then fewer victims, then host id', () => {
    const hosts = [fullHost('h1'), fullHost('h2'), fullHost('h3')];
    expect(planPreemption(hosts, [victim('a', 'h1', 30, 1000), victim('b', 'h2', 10, 1000)], request, 100, exact)?.hostId).toBe('h2');
    expect(planPreemption(hosts, [victim('a1', 'h1', 10, 300), victim('a2', 'h1', 10, 300), victim('b', 'h2', 10, 600)], request, 100, exact)?.hostId).toBe('h2');
    expect(planPreemption(hosts, [victim('c', 'h3', 10, 600), victim('b', 'h2', 10, 600)], request, 100, exact)?.hostId).toBe('h2');
  });

  it('does not preempt on hosts that fail any filter other than capacity', () => {
    const hosts = [fullHost('cordoned', { state: 'cordoned' }), fullHost('zone-b', { labels: { zone: 'b' } }), fullHost('small', { capacity: { cpuMillis: 500, memoryMiB: 1024, pids: 1024 } })];
    const candidates = hosts.map((h) => victim(`v-${h.id}`, h.id, 0, 1000));
    expect(planPreemption(hosts, candidates, { ...request, constraints: ['!zone'] }, 100, exact)).toBeNull();
  });

  it('is not needed where the request already fits, and gives up when all victims together are not enough', () => {
    expect(planPreemption([fullHost('h1', { allocated: { cpuMillis: 0, memoryMiB: 0, pids: 0 } })], [victim('v', 'h1', 0, 100)], request, 100, exact)).toBeNull();
    expect(planPreemption([fullHost('h1')], [victim('v', 'h1', 0, 100)], request, 100, exact)).toBeNull();
  });
});
