import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type UsageReply, type UsageRow, type ValidRequestOf } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import { AGGREGATIONS, combineSql } from '../meters/aggregation';
import { ceilToHour, floorToHour } from '../rollups/hour-split';

const S = `"${SCHEMA}"`;
const MAX_RANGE_MS = 400 * 24 * 3_600_000;

export type UsageQuery = ValidRequestOf<'metering.cmd.usage.query.v1'>;

/** Hourly rollups combined per hour or UTC day, per meter or per workload; scoped to the caller. */
@Injectable()
export class QueryUsageUseCase {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async execute(query: UsageQuery): Promise<UsageReply> {
    const from = floorToHour(new Date(query.from));
    const to = ceilToHour(new Date(query.to));
    if (to <= from) throw new GureumError(ErrorCode.ValidationFailed, '"to" must be after "from"', { from: query.from, to: query.to });
    if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw new GureumError(ErrorCode.ValidationFailed, 'at most 400 days per query');
    // Tenants see themselves only; operators everyone, or the tenant they name.
    const tenantId = 'tenantId' in query.caller ? query.caller.tenantId : 'tenantId' in query ? query.tenantId : undefined;
    const byWorkload = query.groupBy === 'workload';
    const quantity = `CASE m.aggregation ${AGGREGATIONS.map((a) => `WHEN '${a}' THEN ${combineSql(a, 'r.quantity', 'r.hour')}`).join(' ')} END`;
    const rows = await queryRows<{ period: Date; tenant_id: string; meter: string; unit: string; workload_id: string | null; quantity: string }>(
      this.dataSource.manager,
      `SELECT date_trunc($3, r.hour, 'UTC') AS period, r.tenant_id, r.meter, m.unit, ${byWorkload ? 'r.workload_id' : 'NULL::uuid'} AS workload_id,
              (${quantity})::text AS quantity
       FROM ${S}."rollups" r JOIN ${S}."meters" m ON m.name = r.meter
       WHERE r.hour >= $1 AND r.hour < $2 AND ($4::uuid IS NULL OR r.tenant_id = $4)
       GROUP BY 1, r.tenant_id, r.meter, m.unit, m.aggregation${byWorkload ? ', r.workload_id' : ''}
       ORDER BY 1, r.tenant_id, r.meter${byWorkload ? ', r.workload_id' : ''}`,
      [from, to, query.granularity, tenantId ?? null],
    );
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      groupBy: query.groupBy,
      granularity: query.granularity,
      rows: rows.map(
        (row): UsageRow => ({
          periodStart: row.period.toISOString(),
          tenantId: row.tenant_id,
          meter: row.meter,
          unit: row.unit,
          workloadId: row.workload_id,
          quantity: trimDecimal(row.quantity),
        }),
      ),
    };
  }
}

/** `12.500000` → `12.5`, `3.000` → `3`: same value, stable text. */
export function trimDecimal(text: string): string {
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}
