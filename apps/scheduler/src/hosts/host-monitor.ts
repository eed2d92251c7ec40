import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import { PeriodicTask } from '../common/periodic-task';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { DrainHostsUseCase } from './drain-hosts.usecase';
import { MarkLostHostsUseCase } from './mark-lost-hosts.usecase';
import { RecoverMigrationsUseCase } from '../vms/recover-migrations.usecase';

/**
 * Sweeps for silent hosts, moves work off draining hosts, and recovers VM migrations a crashed
 * scheduler left behind, once per heartbeat interval. Safe to run on every replica.
 */
@Injectable()
export class HostMonitor {
  private readonly task: PeriodicTask;

  constructor(
    markLostHosts: MarkLostHostsUseCase,
    drainHosts: DrainHostsUseCase,
    recoverMigrations: RecoverMigrationsUseCase,
    @Inject(SCHEDULER_SETTINGS) settings: SchedulerSettings, @Inject(LOGGER) logger: Logger) {
    this.task = new PeriodicTask('host monitor', settings.heartbeatIntervalMs, async () => {
      await markLostHosts.execute();
      await drainHosts.execute();
      await recoverMigrations.execute();
    }, logger);
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }
}
