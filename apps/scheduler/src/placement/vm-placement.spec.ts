import { placementRequestOf } from './host-claims';
import { explainNoPlacement, normalizeImageRef, rejectionOf, VM_MEMORY_OVERHEAD_MIB, vmTemplateKey, type HostSnapshot } from './placement';

function host(id: string, overrides: Partial<HostSnapshot> = {}): HostSnapshot {
  return {
    id,
    state: 'ready',
    drivers: ['docker', 'vm'],
    labels: {},
    images: ['gureum/busybox:latest', vmTemplateKey('tiny')],
    capacity: { cpuMillis: 4000, memoryMiB: 8192, pids: 4096 },
    allocated: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
    ...overrides,
  };
}

const TENANT = '11111111-1111-4111-8111-111111111111';
const vm = { tenantId: TENANT, placement: null, kind: 'vm' as const, image: 'tiny', cpuMillis: 1000, memoryMiB: 128, pids: 256 };

describe('placement of VMs', () => {
  it('asks for the vm driver, the template in its own namespace and RAM plus QEMU overhead', () => {
    expect(placementRequestOf(vm)).toMatchObject({
      tenantId: TENANT,
      driver: 'vm',
      image: 'vm-template+tiny',
      resources: { cpuMillis: 1000, memoryMiB: 128 + VM_MEMORY_OVERHEAD_MIB, pids: 256 },
    });
    expect(placementRequestOf({ ...vm, kind: 'container' }).driver).toBe('docker');
  });

  it('never normalises a template key to :latest, so a Docker image of the same name does not match', () => {
    expect(normalizeImageRef(vmTemplateKey('tiny'))).toBe('vm-template+tiny');
    expect(rejectionOf(host('a', { images: ['tiny:latest'] }), placementRequestOf(vm))?.filter).toBe('image');
  });

  it('places only on hosts with the vm driver, the template and room', () => {
    const request = placementRequestOf(vm);
    expect(rejectionOf(host('a'), request)).toBeNull();
    expect(rejectionOf(host('a', { drivers: ['docker'] }), request)?.filter).toBe('driver');
    expect(rejectionOf(host('a', { capacity: { cpuMillis: 4000, memoryMiB: 200, pids: 4096 } }), request)?.filter).toBe('capacity');
    expect(explainNoPlacement([host('a', { images: [] })], request)).toBe('no ready host has VM template tiny');
  });
});
