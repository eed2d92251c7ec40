import { randomUUID } from 'node:crypto';
import { Commands, type UsageRow } from '@gureum/contracts';
import type { Bus } from '@gureum/messaging';

/** Hourly usage per meter of one tenant, in [from, to) (whole hours). */
export interface UsageSource {
  hourlyUsage(tenantId: string, from: Date, to: Date): Promise<UsageRow[]>;
}

/** Asks metering over NATS, as an operator (billing reads every tenant), one tenant at a time. */
export class MeteringUsageSource implements UsageSource {
  constructor(private readonly bus: Bus) {}

  async hourlyUsage(tenantId: string, from: Date, to: Date): Promise<UsageRow[]> {
    const reply = await this.bus.request(
      Commands.usageQuery.subject,
      {
        caller: { principalId: 'service:billing', role: 'operator', requestId: randomUUID() },
        tenantId,
        from: from.toISOString(),
        to: to.toISOString(),
        groupBy: 'meter',
        granularity: 'hour',
      },
      { timeoutMs: 30_000 },
    );
    // Metering rounds the window out to whole hours; keep exactly the hours asked for.
    return reply.rows.filter((row) => row.tenantId === tenantId && Date.parse(row.periodStart) >= from.getTime() && Date.parse(row.periodStart) < to.getTime());
  }
}
