import type { JsMsg } from '@nats-io/jetstream';
import { WorkloadStateChangedSchema } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import type { DataSource, EntityManager } from 'typeorm';
import { lockWorkload, queryRows, SCHEMA } from '../database/sql';
import type { BatchOutcome } from '../ingestion/batch-consumer';
import { floorToHour, splitAtHours } from '../rollups/hour-split';
import { rebuildLifecycleRollups } from '../rollups/rollup-store';
import { ALLOCATION_CONTINUES, runningIntervals } from './running-intervals';

const S = `"${SCHEMA}"`;

/**
 * Allocated-resource time from workload state facts. Facts are stored once (event id is the
 * key); each affected workload's running intervals, their hour segments and its lifecycle
 * rollups are then rebuilt from all its facts, so duplicates, redeliveries and replays give
 * the same result.
 */
export class RecordLifecycleUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async execute(batch: JsMsg[]): Promise<BatchOutcome> {
    const terminated = new Set<JsMsg>();
    const rows: Array<[string, string, string, string, string | null, string, string, number | null, number | null, string | null]> = [];
    for (const message of batch) {
      let body: unknown;
      try {
        body = message.json();
      } catch {
        body = undefined;
      }
      const parsed = WorkloadStateChangedSchema.safeParse(body);
      if (!parsed.success) {
        this.logger.warn({ subject: message.subject, seq: message.seq, issues: parsed.error.issues }, 'terminated invalid workload state event');
        terminated.add(message);
        continue;
      }
      const e = parsed.data;
      rows.push([e.eventId, String(message.seq), e.workloadId, e.tenantId, e.from, e.to, e.at, e.resources?.cpuMillis ?? null, e.resources?.memoryMiB ?? null, e.hostId]);
    }
    if (rows.length > 0) {
      await this.dataSource.transaction('READ COMMITTED', async (manager) => {
        const inserted = await queryRows<{ workload_id: string }>(
          manager,
          `INSERT INTO ${S}."lifecycle_events" ("event_id", "stream_seq", "workload_id", "tenant_id", "from_state", "to_state", "at", "cpu_millis", "memory_mib", "host_id")
           SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[], $8::int[], $9::int[], $10::text[])
           ON CONFLICT ("event_id") DO NOTHING RETURNING "workload_id"`,
          Array.from({ length: 10 }, (_, column) => rows.map((row) => row[column])),
        );
        for (const workloadId of [...new Set(inserted.map((row) => row.workload_id))].sort()) await this.rebuild(manager, workloadId);
      });
    }
    return { terminated };
  }

  /** Extends still-running workloads' allocated time to the last complete hour (so usage shows before they stop). */
  async rollForwardOpenIntervals(): Promise<number> {
    const open = await queryRows<{ workload_id: string }>(
      this.dataSource.manager,
      `SELECT workload_id FROM (
         SELECT DISTINCT ON (workload_id) workload_id, to_state FROM ${S}."lifecycle_events" ORDER BY workload_id, at DESC, stream_seq DESC
       ) latest WHERE to_state = ANY($1::text[])`,
      [[...ALLOCATION_CONTINUES]],
    );
    for (const { workload_id: workloadId } of open) {
      await this.dataSource.transaction('READ COMMITTED', (manager) => this.rebuild(manager, workloadId));
    }
    return open.length;
  }

  private async rebuild(manager: EntityManager, workloadId: string): Promise<void> {
    await lockWorkload(manager, workloadId);
    const facts = await queryRows<{ tenant_id: string; to_state: string; at: Date; cpu_millis: number | null; memory_mib: number | null }>(
      manager,
      `SELECT tenant_id, to_state, at, cpu_millis, memory_mib FROM ${S}."lifecycle_events" WHERE workload_id = $1 ORDER BY at, stream_seq`,
      [workloadId],
    );
    const tenantId = facts[0]?.tenant_id;
    if (!tenantId) return;
    const intervals = runningIntervals(
      facts.map((f) => ({ to: f.to_state, at: f.at, cpuMillis: f.cpu_millis, memoryMiB: f.memory_mib })),
      floorToHour(this.now()),
    );
    const segments = intervals.flatMap((interval) => splitAtHours(interval.startedAt, interval.endedAt).map((segment) => ({ ...segment, interval })));
    await manager.query(`DELETE FROM ${S}."allocation_segments" WHERE workload_id = $1`, [workloadId]);
    if (segments.length > 0) {
      await manager.query(
        `INSERT INTO ${S}."allocation_segments" ("workload_id", "tenant_id", "hour", "started_at", "ended_at", "seconds", "cpu_millis", "memory_mib", "open")
         SELECT $1, $2, * FROM unnest($3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::numeric[], $7::int[], $8::int[], $9::boolean[])`,
        [
          workloadId,
          tenantId,
          segments.map((s) => s.hour),
          segments.map((s) => s.startedAt),
          segments.map((s) => s.endedAt),
          segments.map((s) => s.seconds),
          segments.map((s) => s.interval.cpuMillis),
          segments.map((s) => s.interval.memoryMiB),
          segments.map((s) => s.interval.open),
        ],
      );
    }
    await rebuildLifecycleRollups(manager, workloadId);
    this.logger.debug({ workloadId, tenantId, intervals: intervals.length, segments: segments.length }, 'allocated time rebuilt');
  }
}
