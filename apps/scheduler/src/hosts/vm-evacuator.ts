import type { EntityManager } from 'typeorm';
import type { WorkloadEntity } from '../workloads/workload.entity';

export type EvacuationOutcome =
  /** The VM was moved (or a migration to another host was started and owns it now). */
  | { kind: 'moved'; targetHostId: string }
  /** The VM stays for now; the drain keeps it as remaining, with this reason. */
  | { kind: 'blocked'; reason: string };

/**
 * The seam between a host drain and VM live migration. The drain calls it once per pass for
 * every VM still on the draining host, inside the pass's transaction for that workload.
 */
export interface VmEvacuator {
  evacuate(manager: EntityManager, workload: WorkloadEntity, fromHostId: string): Promise<EvacuationOutcome>;
}

export const VM_EVACUATOR = Symbol('scheduler.vm-evacuator');
