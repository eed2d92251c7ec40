import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import type { EntityManager } from 'typeorm';
import { LOGGER } from '../common/tokens';
import type { EvacuationOutcome, VmEvacuator } from '../hosts/vm-evacuator';
import type { WorkloadEntity } from '../workloads/workload.entity';
import { MigrateWorkloadUseCase } from './migrate-workload.usecase';

/**
 * Drains VMs by live migration. The drain calls `evacuate` inside its own transaction, which
 * holds the workload's row lock, and a migration takes seconds and opens transactions of its
 * own: so the migration is started only after this call returns (its first transaction waits
 * for the drain's to commit), and the VM counts as remaining until a later drain pass finds
 * it gone. One migration per VM at a time; a failed one is retried by the next pass.
 */
@Injectable()
export class LiveMigrationVmEvacuator implements VmEvacuator {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly migrate: MigrateWorkloadUseCase,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  evacuate(_manager: EntityManager, workload: WorkloadEntity, fromHostId: string): Promise<EvacuationOutcome> {
    if (workload.state === 'migrating' || this.inFlight.has(workload.id)) {
      return Promise.resolve({ kind: 'blocked', reason: 'live migration in progress' });
    }
    if (workload.state !== 'running' || workload.desiredState !== 'running') {
      // Its disk lives on this host; only a running VM can be moved live.
      return Promise.resolve({ kind: 'blocked', reason: `a ${workload.state} VM keeps its disk on this host: start it (it then migrates) or delete it` });
    }
    this.inFlight.add(workload.id);
    setImmediate(() => {
      this.migrate
        .execute({ caller: { principalId: `drain:${fromHostId}`, role: 'operator', requestId: `drain-${fromHostId}-${workload.id}` }, workloadId: workload.id, mode: 'live' })
        .then((result) => this.logger.info({ workloadId: workload.id, fromHostId, status: result.status, targetHostId: result.targetHostId }, 'drain: VM migration ended'))
        .catch((error: unknown) => this.logger.warn({ err: error, workloadId: workload.id, fromHostId }, 'drain: VM migration could not start'))
        .finally(() => this.inFlight.delete(workload.id));
    });
    return Promise.resolve({ kind: 'blocked', reason: 'live migration started' });
  }
}
