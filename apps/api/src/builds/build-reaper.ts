import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { API_LOGGER } from '../app/tokens';
import { failStaleBuilds } from './build.store';
import { BUILD_SETTINGS, type BuildSettings } from './build-settings';

/**
 * A build whose agent died mid-way would stay `building` forever: agents report at least
 * every 30 s, so one silent for `staleAfterSeconds` is failed. Idempotent, so every api
 * replica may run it.
 */
@Injectable()
export class BuildReaper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(BUILD_SETTINGS) private readonly settings: BuildSettings,
    @Inject(API_LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const everyMs = Math.min(60_000, (this.settings.staleAfterSeconds * 1000) / 2);
    this.timer = setInterval(() => void this.sweep(), everyMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async sweep(): Promise<string[]> {
    try {
      const failed = await failStaleBuilds(this.dataSource.manager, this.settings.staleAfterSeconds);
      if (failed.length > 0) this.logger.warn({ buildIds: failed }, 'failed builds whose host stopped reporting');
      return failed;
    } catch (error) {
      this.logger.warn({ err: error }, 'stale build sweep failed');
      return [];
    }
  }
}
