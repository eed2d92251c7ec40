import type { JsMsg } from '@nats-io/jetstream';
import { nodeIdOfSubject, UsageSampleSchema, type UsageSample } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import type { DataSource, EntityManager } from 'typeorm';
import { lockWorkloads, queryRows, SCHEMA } from '../database/sql';
import { floorToHour } from '../rollups/hour-split';
import { recomputeSampleRollups } from '../rollups/rollup-store';
import type { BatchOutcome } from './batch-consumer';
import { counterDeltas, type CounterReading } from './counter-deltas';

const S = `"${SCHEMA}"`;
const HOUR_MS = 3_600_000;
export const USAGE_SUBJECT_PATTERN = 'agent.*.evt.usage.v1';

interface AcceptedSample extends UsageSample {
  dedupeKey: string;
}

/**
 * Stores a batch of usage samples exactly once and brings the affected hourly rollups up to
 * date, in one transaction. The dedupe key is the node id from the subject (which NATS
 * permissions make trustworthy) plus the agent's sample id, unique in PostgreSQL: a
 * duplicate, a redelivery or a replay after a restart inserts nothing and changes nothing.
 */
export class IngestSamplesUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
    private readonly retentionMs: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async execute(batch: JsMsg[]): Promise<BatchOutcome> {
    const terminated = new Set<JsMsg>();
    const accepted = new Map<string, AcceptedSample>();
    // Samples from hours already purged (or about to be) would be rolled up against missing neighbours.
    const oldestAccepted = floorToHour(new Date(this.now().getTime() - this.retentionMs)).getTime() + HOUR_MS;
    for (const message of batch) {
      const sample = this.parse(message, oldestAccepted);
      if (!sample) terminated.add(message);
      else accepted.set(sample.dedupeKey, sample);
    }
    if (accepted.size > 0) await this.dataSource.transaction('READ COMMITTED', (manager) => this.store(manager, [...accepted.values()]));
    return { terminated };
  }

  private parse(message: JsMsg, oldestAccepted: number): AcceptedSample | null {
    const nodeId = nodeIdOfSubject(USAGE_SUBJECT_PATTERN, message.subject);
    let body: unknown;
    try {
      body = message.json();
    } catch (error) {
      this.logger.warn({ err: error, subject: message.subject, seq: message.seq }, 'terminated usage message: not JSON');
      return null;
    }
    const parsed = UsageSampleSchema.safeParse(body);
    if (!nodeId || !parsed.success) {
      this.logger.warn({ subject: message.subject, seq: message.seq, issues: parsed.error?.issues }, 'terminated invalid usage sample');
      return null;
    }
    if (parsed.data.nodeId !== nodeId) {
      this.logger.warn({ subject: message.subject, seq: message.seq, claimed: parsed.data.nodeId }, 'terminated usage sample: node id does not match its subject');
      return null;
    }
    if (Date.parse(parsed.data.sampledAt) < oldestAccepted) {
      this.logger.warn({ nodeId, workloadId: parsed.data.workloadId, sampledAt: parsed.data.sampledAt }, 'terminated usage sample older than the retention period');
      return null;
    }
    return { ...parsed.data, dedupeKey: `${nodeId}/${parsed.data.sampleId}` };
  }

  private async store(manager: EntityManager, samples: AcceptedSample[]): Promise<void> {
    const started = performance.now();
    const inserted = await queryRows<{ workload_id: string; sampled_at: Date }>(
      manager,
      `INSERT INTO ${S}."samples" ("dedupe_key", "tenant_id", "workload_id", "node_id", "handle_id", "sampled_at", "cpu_usage_ns", "memory_bytes", "memory_peak_bytes", "pids",
                                   "net_rx_bytes", "net_tx_bytes", "blk_read_bytes", "blk_write_bytes")
       SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::numeric[], $8::bigint[], $9::bigint[], $10::int[],
                            $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[])
       ON CONFLICT ("dedupe_key") DO NOTHING
       RETURNING "workload_id", "sampled_at"`,
      [
        samples.map((s) => s.dedupeKey),
        samples.map((s) => s.tenantId),
        samples.map((s) => s.workloadId),
        samples.map((s) => s.nodeId),
        samples.map((s) => s.handleId),
        samples.map((s) => s.sampledAt),
        samples.map((s) => s.cpuUsageNs),
        samples.map((s) => s.memoryBytes),
        samples.map((s) => s.memoryPeakBytes),
        samples.map((s) => s.pids),
        ...COUNTERS.filter((c) => c.field !== 'cpuUsageNs').map((c) => samples.map((s) => s[c.field] ?? null)),
      ],
    );
    if (inserted.length < samples.length) this.logger.debug({ duplicates: samples.length - inserted.length }, 'dropped duplicate usage samples');
    if (inserted.length === 0) return;
    const earliest = new Map<string, Date>();
    for (const row of inserted) {
      const seen = earliest.get(row.workload_id);
      if (!seen || row.sampled_at < seen) earliest.set(row.workload_id, row.sampled_at);
    }
    // Sorted, so two replicas lock workloads in the same order.
    const workloads = [...earliest.keys()].sort();
    const insertedAt = performance.now();
    await lockWorkloads(manager, workloads);
    const since = workloads.map((w) => earliest.get(w) as Date);
    await this.recomputeDeltas(manager, workloads, since);
    const deltasAt = performance.now();
    await recomputeSampleRollups(
      manager,
      workloads.map((workloadId, i) => ({ workloadId, fromHour: floorToHour(since[i] as Date) })),
    );
    const ms = (from: number, to: number) => Math.round(to - from);
    this.logger.debug(
      { samples: inserted.length, workloads: workloads.length, insertMs: ms(started, insertedAt), deltasMs: ms(insertedAt, deltasAt), rollupsMs: ms(deltasAt, performance.now()) },
      'usage batch stored',
    );
  }

  /**
   * Counter deltas of every sample of each workload from its earliest new sample on (a late
   * sample changes its successor's delta too), all workloads of the batch in three statements.
   */
  private async recomputeDeltas(manager: EntityManager, workloads: string[], since: Date[]): Promise<void> {
    type Row = { dedupe_key: string; workload_id: string; handle_id: string } & Record<CounterColumn | DeltaColumn, string | null>;
    const rows = await queryRows<Row>(
      manager,
      `SELECT s.dedupe_key, s.workload_id, s.handle_id, ${COUNTERS.map((c) => `s.${c.column}::text AS ${c.column}, s.${c.delta}::text AS ${c.delta}`).join(', ')}
       FROM ${S}."samples" s JOIN unnest($1::uuid[], $2::timestamptz[]) AS w(id, since) ON s.workload_id = w.id AND s.sampled_at >= w.since
       ORDER BY s.workload_id, s.sampled_at, s.dedupe_key`,
      [workloads, since],
    );
    const byWorkload = new Map<string, Row[]>();
    for (const row of rows) {
      const list = byWorkload.get(row.workload_id);
      if (list) list.push(row);
      else byWorkload.set(row.workload_id, [row]);
    }
    // The last reading before the range, per workload and counter, only where the range has readings of it.
    const wanted = workloads.flatMap((workloadId, i) =>
      COUNTERS.filter((c) => byWorkload.get(workloadId)?.some((row) => row[c.column] !== null)).map((c) => ({ workloadId, since: since[i] as Date, counter: c.column })),
    );
    const before = new Map<string, CounterReading>();
    if (wanted.length > 0) {
      const found = await queryRows<{ workload_id: string; counter: string; handle_id: string; value: string }>(
        manager,
        `SELECT w.id AS workload_id, w.counter, b.handle_id, b.value
         FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS w(id, since, counter)
         CROSS JOIN LATERAL (
           SELECT s.handle_id, (CASE w.counter ${COUNTERS.map((c) => `WHEN '${c.column}' THEN s.${c.column}`).join(' ')} END)::text AS value
           FROM ${S}."samples" s
           WHERE s.workload_id = w.id AND s.sampled_at < w.since AND (CASE w.counter ${COUNTERS.map((c) => `WHEN '${c.column}' THEN s.${c.column}`).join(' ')} END) IS NOT NULL
           ORDER BY s.sampled_at DESC, s.dedupe_key DESC LIMIT 1
         ) b`,
        [wanted.map((w) => w.workloadId), wanted.map((w) => w.since), wanted.map((w) => w.counter)],
      );
      for (const row of found) before.set(`${row.workload_id}/${row.counter}`, { handleId: row.handle_id, value: BigInt(row.value) });
    }
    const changed: Array<{ key: string; deltas: Record<DeltaColumn, string> }> = [];
    for (const [workloadId, list] of byWorkload) {
      const deltas = COUNTERS.map((c) =>
        counterDeltas(
          before.get(`${workloadId}/${c.column}`) ?? null,
          list.map((row) => ({ handleId: row.handle_id, value: row[c.column] === null ? null : BigInt(row[c.column] as string) })),
        ),
      );
      list.forEach((row, i) => {
        const next = Object.fromEntries(COUNTERS.map((c, k) => [c.delta, String(deltas[k]?.[i] ?? 0n)])) as Record<DeltaColumn, string>;
        if (COUNTERS.some((c) => next[c.delta] !== row[c.delta])) changed.push({ key: row.dedupe_key, deltas: next });
      });
    }
    if (changed.length === 0) return;
    await manager.query(
      `UPDATE ${S}."samples" s SET ${COUNTERS.map((c) => `${c.delta} = c.${c.delta}`).join(', ')}
       FROM unnest($1::text[], ${COUNTERS.map((_c, i) => `$${i + 2}::numeric[]`).join(', ')}) AS c(key, ${COUNTERS.map((c) => c.delta).join(', ')})
       WHERE s.dedupe_key = c.key`,
      [changed.map((c) => c.key), ...COUNTERS.map((counter) => changed.map((c) => c.deltas[counter.delta]))],
    );
  }
}

/** Cumulative counters of a sample, each with the column of its per-sample delta. */
const COUNTERS = [
  { field: 'cpuUsageNs', column: 'cpu_usage_ns', delta: 'cpu_delta_ns' },
  { field: 'networkRxBytes', column: 'net_rx_bytes', delta: 'net_rx_delta' },
  { field: 'networkTxBytes', column: 'net_tx_bytes', delta: 'net_tx_delta' },
  { field: 'blockReadBytes', column: 'blk_read_bytes', delta: 'blk_read_delta' },
  { field: 'blockWriteBytes', column: 'blk_write_bytes', delta: 'blk_write_delta' },
] as const satisfies ReadonlyArray<{ field: keyof UsageSample; column: string; delta: string }>;
type CounterColumn = (typeof COUNTERS)[number]['column'];
type DeltaColumn = (typeof COUNTERS)[number]['delta'];
