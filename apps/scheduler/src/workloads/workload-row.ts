import type { DesiredState, PlacementHints, VmOptions, WorkloadKind, WorkloadState } from '@gureum/contracts';
import { WorkloadEntity } from './workload.entity';

/** A `workloads` row as node-postgres returns it (`RETURNING *`): jsonb parsed, timestamps as Date. */
export interface WorkloadRow {
  id: string;
  tenant_id: string;
  name: string;
  kind: WorkloadKind;
  vm: VmOptions | null;
  image: string;
  command: string[] | null;
  env: Record<string, string> | null;
  cpu_millis: number;
  memory_mib: number;
  pids: number;
  state: WorkloadState;
  desired_state: DesiredState;
  reason: string | null;
  exit_code: number | null;
  host_id: string | null;
  generation: number;
  placement: PlacementHints | null;
  affinity_group: string | null;
  anti_affinity_group: string | null;
  priority: number;
  preemptible: boolean;
  read_only_root_filesystem: boolean;
  idempotency_key: string | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
}

/**
 * The entity of a row a write just returned, so a write does not need a second round trip to
 * read back what it stored (the hot path of a create runs this twice).
 */
export function workloadFromRow(row: WorkloadRow): WorkloadEntity {
  return Object.assign(new WorkloadEntity(), {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    kind: row.kind,
    vm: row.vm,
    image: row.image,
    command: row.command,
    env: row.env,
    cpuMillis: row.cpu_millis,
    memoryMiB: row.memory_mib,
    pids: row.pids,
    state: row.state,
    desiredState: row.desired_state,
    reason: row.reason,
    exitCode: row.exit_code,
    hostId: row.host_id,
    generation: row.generation,
    placement: row.placement,
    affinityGroup: row.affinity_group,
    antiAffinityGroup: row.anti_affinity_group,
    priority: row.priority,
    preemptible: row.preemptible,
    readOnlyRootFilesystem: row.read_only_root_filesystem,
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
  });
}
