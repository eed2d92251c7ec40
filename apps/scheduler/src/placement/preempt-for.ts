import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import { WorkloadEntity } from '../workloads/workload.entity';
import { changeWorkload } from '../workloads/workload-store';
import { claimOnHost, loadHostSnapshots, placementRequestOf, releaseClaim } from './host-claims';
import type { PlacementSettings } from './placement';
import { planPreemption, type PreemptionCandidate } from './preemption';

/** States in which a workload holds a claim on a host and may be preempted. */
const PREEMPTABLE_STATES = ['scheduled', 'starting', 'running', 'paused'] as const;

export interface Preempted {
  hostId: string;
  victims: WorkloadEntity[];
}

/**
 * When nothing fits a workload with a priority, stops the lowest-priority preemptible
 * workloads on one host to make room (see `planPreemption`), inside the caller's transaction:
 * victims lose their claim and go back to `pending` with reason `preempted by <id>` (the
 * placement loop places them again when room appears), and the workload takes the host.
 * Returns null when no plan exists or the fleet moved under us (the workload stays pending).
 */
export async function preemptFor(manager: EntityManager, workload: WorkloadEntity, settings: PlacementSettings): Promise<Preempted | null> {
  if (workload.priority <= 0) return null;
  const request = placementRequestOf(workload);
  const { hosts, affinityPlaced } = await loadHostSnapshots(manager, request, settings, { candidatesOnly: false });
  const rows = await queryRows<{ id: string; host_id: string; priority: number; preemptible: boolean; cpu_millis: number; memory_mib: number; pids: number; created_at: Date }>(
    manager,
    `SELECT w."id", w."host_id", w."priority", w."preemptible", c."cpu_millis", c."memory_mib", c."pids", w."created_at"
       FROM "${SCHEMA}"."workloads" w JOIN "${SCHEMA}"."claims" c ON c."workload_id" = w."id"
      WHERE w."preemptible" AND w."priority" < $1 AND w."state" = ANY($2::text[])`,
    [workload.priority, [...PREEMPTABLE_STATES]],
  );
  const candidates: PreemptionCandidate[] = rows.map((row) => ({
    workloadId: row.id,
    hostId: row.host_id,
    priority: row.priority,
    preemptible: row.preemptible,
    resources: { cpuMillis: row.cpu_millis, memoryMiB: row.memory_mib, pids: row.pids },
    createdAt: row.created_at.getTime(),
  }));
  const plan = planPreemption(hosts, candidates, request, workload.priority, settings, affinityPlaced);
  if (!plan) return null;

  await manager.query('SAVEPOINT "preemption"');
  // Host first, then victims in id order, like every other claim path takes the host lock.
  await manager.query(`SELECT 1 FROM "${SCHEMA}"."hosts" WHERE "id" = $1 FOR UPDATE`, [plan.hostId]);
  const victims = await manager.find(WorkloadEntity, {
    where: { id: In(plan.victims), hostId: plan.hostId, state: In([...PREEMPTABLE_STATES]) },
    order: { id: 'ASC' },
    lock: { mode: 'pessimistic_write' },
  });
  if (victims.length !== plan.victims.length) {
    await manager.query('ROLLBACK TO SAVEPOINT "preemption"');
    return null;
  }
  const preempted: WorkloadEntity[] = [];
  for (const victim of victims) {
    await releaseClaim(manager, victim.id);
    preempted.push(await changeWorkload(manager, victim, { state: 'pending', hostId: null, reason: `preempted by ${workload.id}` }));
  }
  if (!(await claimOnHost(manager, workload.id, plan.hostId, request, settings, affinityPlaced))) {
    await manager.query('ROLLBACK TO SAVEPOINT "preemption"');
    return null;
  }
  await manager.query('RELEASE SAVEPOINT "preemption"');
  return { hostId: plan.hostId, victims: preempted };
}
