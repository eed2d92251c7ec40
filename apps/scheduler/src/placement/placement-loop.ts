import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { PeriodicTask } from '../common/periodic-task';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { queryRows, SCHEMA } from '../database/sql';
import { PlacePendingWorkloadUseCase } from './place-pending-workload.usecase';
import { PlacementKicker } from './placement-kicker';

interface Position {
  createdAt: Date;
  id: string;
}

/**
 * Retries placement of pending workloads, oldest first, a bounded batch per run. Runs every
 * `placementRetryIntervalMs` and whenever capacity may have appeared. Between timer runs it
 * walks on from where the last batch ended, so a head of workloads that fit nowhere cannot
 * starve the ones behind it; a kick (new capacity) starts again from the oldest.
 */
@Injectable()
export class PlacementLoop {
  private readonly task: PeriodicTask;
  private resumeAfter: Position | null = null;
  private restartFromOldest = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly placePending: PlacePendingWorkloadUseCase,
    private readonly kicker: PlacementKicker,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.task = new PeriodicTask('placement loop', settings.placementRetryIntervalMs, () => this.placeBatch(), logger);
  }

  start(): void {
    this.kicker.listen(() => {
      this.restartFromOldest = true;
      this.task.kick();
    });
    this.task.start();
  }

  async stop(): Promise<void> {
    this.kicker.stopListening();
    await this.task.stop();
  }

  private async placeBatch(): Promise<void> {
    if (this.restartFromOldest) {
      this.restartFromOldest = false;
      this.resumeAfter = null;
    }
    const after = this.resumeAfter;
    const batch = await queryRows<{ id: string; created_at: Date }>(
      this.dataSource.manager,
      `SELECT "id", "created_at" FROM "${SCHEMA}"."workloads"
        WHERE "state" = 'pending' ${after ? `AND ("created_at", "id") > ($2, $3)` : ''}
        ORDER BY "created_at", "id" LIMIT $1`,
      after ? [this.settings.placementBatchSize, after.createdAt, after.id] : [this.settings.placementBatchSize],
    );
    for (const row of batch) {
      try {
        await this.placePending.execute(row.id);
      } catch (error) {
        // One workload's failure must not hold up the rest of the batch.
        this.logger.error({ err: error, workloadId: row.id }, 'placement attempt failed');
      }
    }
    const last = batch[batch.length - 1];
    this.resumeAfter = batch.length === this.settings.placementBatchSize && last ? { createdAt: last.created_at, id: last.id } : null;
  }
}
