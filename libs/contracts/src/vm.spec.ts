import { CreateSnapshotBodySchema, MigrateWorkloadBodySchema } from './vm';
import { WorkloadSpecSchema } from './workload';

const vm = { name: 'tiny-1', kind: 'vm', image: 'tiny', resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 } };

describe('VM workload spec', () => {
  it('accepts a VM with whole vCPUs, memory and a disk', () => {
    const parsed = WorkloadSpecSchema.parse(vm);
    expect(parsed.kind).toBe('vm');
    if (parsed.kind === 'vm') expect(parsed.vm).toEqual({ diskGiB: 1 });
  });

  it('refuses fractional vCPUs, a missing disk, container fields and odd kernel arguments', () => {
    expect(WorkloadSpecSchema.safeParse({ ...vm, resources: { cpuMillis: 1500, memoryMiB: 128 } }).success).toBe(false);
    expect(WorkloadSpecSchema.safeParse({ ...vm, vm: undefined }).success).toBe(false);
    expect(WorkloadSpecSchema.safeParse({ ...vm, command: ['sh'] }).success).toBe(false);
    expect(WorkloadSpecSchema.safeParse({ ...vm, vm: { diskGiB: 1, kernelArgs: ['a b'] } }).success).toBe(false);
    expect(WorkloadSpecSchema.safeParse({ ...vm, vm: { diskGiB: 1, kernelArgs: ['gureum.write=hello'] } }).success).toBe(true);
  });

  it('keeps the container spec as it was and refuses a VM section on it', () => {
    const container = { name: 'web', kind: 'container', image: 'gureum/busybox:latest', resources: { cpuMillis: 500, memoryMiB: 64 } };
    expect(WorkloadSpecSchema.safeParse(container).success).toBe(true);
    expect(WorkloadSpecSchema.safeParse({ ...container, vm: { diskGiB: 1 } }).success).toBe(false);
  });

  it('defaults snapshots to memory state and migrations to live', () => {
    expect(CreateSnapshotBodySchema.parse({ name: 's1' })).toEqual({ name: 's1', withMemory: true });
    expect(CreateSnapshotBodySchema.safeParse({ name: '../x' }).success).toBe(false);
    expect(MigrateWorkloadBodySchema.parse({})).toEqual({ mode: 'live' });
    expect(MigrateWorkloadBodySchema.safeParse({ targetHostId: 'Bad Host' }).success).toBe(false);
  });
});
