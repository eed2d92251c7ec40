import type { WorkloadView } from '@gureum/contracts';
import type { WorkloadEntity } from './workload.entity';

/** The wire shape; the entity itself never leaves the service. */
export function toWorkloadView(workload: WorkloadEntity): WorkloadView {
  return {
    id: workload.id,
    tenantId: workload.tenantId,
    name: workload.name,
    kind: workload.kind,
    image: workload.image,
    command: workload.command,
    env: workload.env,
    resources: { cpuMillis: workload.cpuMillis, memoryMiB: workload.memoryMiB, pids: workload.pids },
    vm: workload.vm,
    state: workload.state,
    desiredState: workload.desiredState,
    reason: workload.reason,
    exitCode: workload.exitCode,
    hostId: workload.hostId,
    generation: workload.generation,
    // Only when set, so views of workloads without hints look exactly as before.
    ...(workload.placement ? { placement: workload.placement } : {}),
    ...(workload.priority ? { priority: workload.priority } : {}),
    ...(workload.preemptible ? { preemptible: true } : {}),
    ...(workload.readOnlyRootFilesystem ? { readOnlyRootFilesystem: true } : {}),
    createdAt: workload.createdAt.toISOString(),
    updatedAt: workload.updatedAt.toISOString(),
  };
}
