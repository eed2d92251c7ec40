import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import { PeriodicTask } from '../common/periodic-task';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { MarkLostHostsUseCase } from './mark-lost-hosts.usecase';

/** Sweeps for silent hosts once per heartbeat interval. Safe to run on every replica. */
@Injectable()
export class HostMonitor {
  private readonly task: PeriodicTask;

  constructor(markLostHosts: MarkLostHostsUseCase, @Inject(SCHEDULER_SETTINGS) settings: SchedulerSettings, @Inject(LOGGER) logger: Logger) {
    this.task = new PeriodicTask('host monitor', settings.heartbeatIntervalMs, async () => void (await markLostHosts.execute()), logger);
  }

  start(): void {
    this.task.start();
  }

  stop(): Promise<void> {
    return this.task.stop();
  }
}
