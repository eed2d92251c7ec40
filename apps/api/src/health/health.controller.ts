import { Controller, Get, Inject } from '@nestjs/common';
import { ErrorCode, GureumError } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { NatsConnectionState } from './nats-connection-state';

export const HealthSchema = z.object({ status: z.literal('ok') });

const DATABASE_PROBE_TIMEOUT_MS = 2000;

/** Readiness: the api can serve only while both its database and the bus are reachable. */
@Controller('v1/health')
export class HealthController {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(NatsConnectionState) private readonly nats: NatsConnectionState,
  ) {}

  @Get()
  async check(): Promise<z.infer<typeof HealthSchema>> {
    const [databaseUp, natsUp] = [await this.databaseIsUp(), this.nats.isConnected()];
    const down = [databaseUp ? null : 'database', natsUp ? null : 'NATS'].filter((name) => name !== null);
    if (down.length > 0) throw new GureumError(ErrorCode.Unavailable, `not ready: ${down.join(' and ')} unreachable`);
    return { status: 'ok' };
  }

  private async databaseIsUp(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), DATABASE_PROBE_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.dataSource.query('SELECT 1').then(() => true, () => false), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
