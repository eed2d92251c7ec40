import type { JsMsg } from '@nats-io/jetstream';
import { nodeIdOfSubject, UsageSampleSchema, type UsageSample } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import type { DataSource, EntityManager } from 'typeorm';
import { lockWorkloads, queryRows, SCHEMA } from '../database/sql';
import { floorToHour } from '../rollups/hour-split';
import { appendToSampleRollupsSql, isAppendable, loadSampleMeters, recomputeSampleRollups, type SampleMeter } from '../rollups/rollup-store';
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

  /** Results of `prepare`, so a message is parsed once, on arrival. */
  private readonly parsed = new WeakMap<JsMsg, AcceptedSample | null>();

  /**
   * Parses and validates a message as it arrives (see BatchConsumer): the next batch is
   * checked while the previous one is being written, instead of after it.
   */
  prepare(message: JsMsg): void {
    if (!this.parsed.has(message)) this.parsed.set(message, this.parse(message));
  }

  async execute(batch: JsMsg[]): Promise<BatchOutcome> {
    const terminated = new Set<JsMsg>();
    const accepted = new Map<string, AcceptedSample>();
    // Samples from hours already purged (or about to be) would be rolled up against missing neighbours.
    const oldestAccepted = floorToHour(new Date(this.now().getTime() - this.retentionMs)).getTime() + HOUR_MS;
    for (const message of batch) {
      const sample = this.parsed.has(message) ? this.parsed.get(message) : this.parse(message);
      this.parsed.delete(message);
      if (!sample) terminated.add(message);
      else if (Date.parse(sample.sampledAt) < oldestAccepted) {
        this.logger.warn({ nodeId: sample.nodeId, workloadId: sample.workloadId, sampledAt: sample.sampledAt }, 'terminated usage sample older than the retention period');
        terminated.add(message);
      } else accepted.set(sample.dedupeKey, sample);
    }
    if (accepted.size > 0) await this.dataSource.transaction('READ COMMITTED', (manager) => this.store(manager, [...accepted.values()]));
    return { terminated };
  }

  private parse(message: JsMsg): AcceptedSample | null {
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
    return { ...parsed.data, dedupeKey: `${nodeId}/${parsed.data.sampleId}` };
  }

  /**
   * Locks the batch's workloads, computes every counter delta of the new samples (and of
   * stored successors a late sample changes) from what is stored, inserts the new samples
   * with their deltas, and recomputes the rollups of the hours they touch.
   */
  private async store(manager: EntityManager, samples: AcceptedSample[]): Promise<void> {
    const started = performance.now();
    const since = new Map<string, Date>();
    for (const sample of samples) {
      const at = new Date(sample.sampledAt);
      const seen = since.get(sample.workloadId);
      if (!seen || at < seen) since.set(sample.workloadId, at);
    }
    // Sorted, so two replicas lock workloads in the same order.
    const workloads = [...since.keys()].sort();
    await lockWorkloads(manager, workloads);
    const lockedAt = performance.now();
    const sinceList = workloads.map((w) => since.get(w) as Date);
    const stored = await this.storedFrom(manager, workloads, sinceList);
    const storedKeys = new Set(stored.rows.map((row) => row.dedupe_key));
    const fresh = samples.filter((sample) => !storedKeys.has(sample.dedupeKey));

    // Stored rows from each workload's earliest batch time on, plus the new samples, in time order.
    const byWorkload = new Map<string, Row[]>();
    const add = (row: Row) => {
      const list = byWorkload.get(row.workload_id);
      if (list) list.push(row);
      else byWorkload.set(row.workload_id, [row]);
    };
    for (const row of stored.rows) add(row);
    const freshRows = new Map<string, Row>();
    for (const sample of fresh) {
      const row: Row = {
        dedupe_key: sample.dedupeKey,
        workload_id: sample.workloadId,
        handle_id: sample.handleId,
        sampled_at: new Date(sample.sampledAt),
        ...(Object.fromEntries(COUNTERS.flatMap((c) => [[c.column, sample[c.field] ?? null], [c.delta, null]])) as Record<CounterColumn | DeltaColumn, string | null>),
      };
      freshRows.set(row.dedupe_key, row);
      add(row);
    }
    for (const list of byWorkload.values()) list.sort(byTimeThenKey);
    const before = await this.readingsBefore(manager, byWorkload, since, stored.previous);
    const readAt = performance.now();
    const changed = new Set<Row>();
    for (const [workloadId, list] of byWorkload) {
      for (const c of COUNTERS) {
        const deltas = counterDeltas(
          before.get(`${workloadId}/${c.column}`) ?? null,
          list.map((row) => ({ handleId: row.handle_id, value: row[c.column] === null ? null : BigInt(row[c.column] as string) })),
        );
        list.forEach((row, i) => {
          const delta = String(deltas[i] ?? 0n);
          if (row[c.delta] === delta) return;
          if (row[c.delta] !== null) changed.add(row);
          row[c.delta] = delta;
        });
      }
    }

    // Workloads whose new samples all come after everything stored: their rollups can be added to.
    const appendOnly = new Set<string>();
    for (const [workloadId, list] of byWorkload) {
      const lastStored = list.filter((row) => !freshRows.has(row.dedupe_key)).at(-1);
      const firstFresh = list.find((row) => freshRows.has(row.dedupe_key));
      if (firstFresh && (!lastStored || lastStored.sampled_at < firstFresh.sampled_at)) appendOnly.add(workloadId);
    }
    const meters = await loadSampleMeters(manager);

    const insertedAt = performance.now();
    const inserted = await this.insertAndAppend(manager, [...freshRows.values()], samples, meters, [...appendOnly]);
    if (inserted.length < freshRows.size) {
      // A key stored with another time than this payload's: the rows read above were not the whole picture (and the
      // statement appended nothing). Recompute from the table.
      this.logger.warn({ expected: freshRows.size, inserted: inserted.length }, 'usage samples conflicted outside their time; recomputing deltas from the table');
      appendOnly.clear();
      await this.recomputeDeltas(manager, workloads, sinceList);
    } else if (changed.size > 0) {
      const rows = [...changed];
      await manager.query(
        `UPDATE ${S}."samples" s SET ${COUNTERS.map((c) => `${c.delta} = c.${c.delta}`).join(', ')}
         FROM unnest($1::text[], ${COUNTERS.map((_c, i) => `$${i + 2}::numeric[]`).join(', ')}) AS c(key, ${COUNTERS.map((c) => c.delta).join(', ')})
         WHERE s.dedupe_key = c.key`,
        [rows.map((row) => row.dedupe_key), ...COUNTERS.map((c) => rows.map((row) => row[c.delta]))],
      );
    }
    if (inserted.length < samples.length) this.logger.debug({ duplicates: samples.length - inserted.length }, 'dropped duplicate usage samples');
    const deltasAt = performance.now();
    const earliest = new Map<string, Date>();
    for (const row of inserted) {
      const seen = earliest.get(row.workload_id);
      if (!seen || row.sampled_at < seen) earliest.set(row.workload_id, row.sampled_at);
    }
    const ranges = [...earliest].map(([workloadId, at]) => ({ workloadId, fromHour: floorToHour(at) }));
    await recomputeSampleRollups(
      manager,
      meters,
      ranges.filter((range) => appendOnly.has(range.workloadId)),
      (meter) => !isAppendable(meter),
    );
    await recomputeSampleRollups(
      manager,
      meters,
      ranges.filter((range) => !appendOnly.has(range.workloadId)),
    );
    const ms = (from: number, to: number) => Math.round(to - from);
    this.logger.debug(
      { samples: inserted.length, workloads: earliest.size, appended: appendOnly.size, lockMs: ms(started, lockedAt), readMs: ms(lockedAt, readAt), deltasMs: ms(readAt, insertedAt), insertMs: ms(insertedAt, deltasAt), rollupsMs: ms(deltasAt, performance.now()) },
      'usage batch stored',
    );
  }

  /** Stored samples of each workload from `since` on, and the one just before (whatever its readings). */
  private async storedFrom(manager: EntityManager, workloads: string[], since: Date[]): Promise<{ rows: Row[]; previous: Map<string, Row> }> {
    const columns = `s.dedupe_key, s.workload_id, s.handle_id, s.sampled_at, ${COUNTERS.map((c) => `s.${c.column}::text AS ${c.column}, s.${c.delta}::text AS ${c.delta}`).join(', ')}`;
    const [rows, previous] = await Promise.all([
      queryRows<Row>(
        manager,
        `SELECT ${columns} FROM ${S}."samples" s JOIN unnest($1::uuid[], $2::timestamptz[]) AS w(id, since) ON s.workload_id = w.id AND s.sampled_at >= w.since`,
        [workloads, since],
      ),
      queryRows<Row>(
        manager,
        `SELECT p.* FROM unnest($1::uuid[], $2::timestamptz[]) AS w(id, since)
         CROSS JOIN LATERAL (SELECT ${columns} FROM ${S}."samples" s WHERE s.workload_id = w.id AND s.sampled_at < w.since
                             ORDER BY s.sampled_at DESC, s.dedupe_key COLLATE "C" DESC LIMIT 1) p`,
        [workloads, since],
      ),
    ]);
    return { rows, previous: new Map(previous.map((row) => [row.workload_id, row])) };
  }

  /**
   * The last reading of each counter before each workload's range, only where the range has
   * readings of it: the previous sample's, or (when that one had none) the last that had one.
   */
  private async readingsBefore(manager: EntityManager, byWorkload: Map<string, Row[]>, since: Map<string, Date>, previous: Map<string, Row>): Promise<Map<string, CounterReading>> {
    const before = new Map<string, CounterReading>();
    const missing: Array<{ workloadId: string; since: Date; counter: CounterColumn }> = [];
    for (const [workloadId, list] of byWorkload) {
      const prev = previous.get(workloadId);
      if (!prev) continue;
      for (const c of COUNTERS) {
        if (!list.some((row) => row[c.column] !== null)) continue;
        const value = prev[c.column];
        if (value !== null) before.set(`${workloadId}/${c.column}`, { handleId: prev.handle_id, value: BigInt(value) });
        else missing.push({ workloadId, since: since.get(workloadId) as Date, counter: c.column });
      }
    }
    if (missing.length === 0) return before;
    const found = await queryRows<{ workload_id: string; counter: string; handle_id: string; value: string }>(
      manager,
      `SELECT w.id AS workload_id, w.counter, b.handle_id, b.value
       FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS w(id, since, counter)
       CROSS JOIN LATERAL (
         SELECT s.handle_id, (CASE w.counter ${COUNTERS.map((c) => `WHEN '${c.column}' THEN s.${c.column}`).join(' ')} END)::text AS value
         FROM ${S}."samples" s
         WHERE s.workload_id = w.id AND s.sampled_at < w.since AND (CASE w.counter ${COUNTERS.map((c) => `WHEN '${c.column}' THEN s.${c.column}`).join(' ')} END) IS NOT NULL
         ORDER BY s.sampled_at DESC, s.dedupe_key COLLATE "C" DESC LIMIT 1
       ) b`,
      [missing.map((m) => m.workloadId), missing.map((m) => m.since), missing.map((m) => m.counter)],
    );
    for (const row of found) before.set(`${row.workload_id}/${row.counter}`, { handleId: row.handle_id, value: BigInt(row.value) });
    return before;
  }

  /**
   * Inserts the new rows (a conflicting key inserts nothing) and, in the same statement, adds
   * the rows of `appendOnly` workloads to the rollups straight from the insert's `RETURNING`
   * — only when every row went in: otherwise the caller recomputes, and nothing was added.
   */
  private async insertAndAppend(manager: EntityManager, rows: Row[], samples: AcceptedSample[], meters: readonly SampleMeter[], appendOnly: string[]): Promise<Array<{ dedupe_key: string; workload_id: string; sampled_at: Date }>> {
    if (rows.length === 0) return [];
    const byKey = new Map(samples.map((sample) => [sample.dedupeKey, sample]));
    const of = (row: Row) => byKey.get(row.dedupe_key) as AcceptedSample;
    const params: unknown[] = [
      rows.map((r) => r.dedupe_key),
      rows.map((r) => of(r).tenantId),
      rows.map((r) => r.workload_id),
      rows.map((r) => of(r).nodeId),
      rows.map((r) => r.handle_id),
      rows.map((r) => of(r).sampledAt),
      rows.map((r) => of(r).memoryBytes),
      rows.map((r) => of(r).memoryPeakBytes),
      rows.map((r) => of(r).pids),
      ...COUNTERS.flatMap((c) => [rows.map((r) => r[c.column]), rows.map((r) => r[c.delta] ?? '0')]),
    ];
    const insert = `INSERT INTO ${S}."samples" ("dedupe_key", "tenant_id", "workload_id", "node_id", "handle_id", "sampled_at", "memory_bytes", "memory_peak_bytes", "pids",
                                   ${COUNTERS.map((c) => `"${c.column}", "${c.delta}"`).join(', ')})
       SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::bigint[], $8::bigint[], $9::int[],
                            ${COUNTERS.map((_c, i) => `$${10 + 2 * i}::numeric[], $${11 + 2 * i}::numeric[]`).join(', ')})
       ON CONFLICT ("dedupe_key") DO NOTHING
       RETURNING *`;
    const appendOnlyParam = params.length + 1;
    const allInsertedParam = params.length + 2;
    const append =
      appendOnly.length > 0
        ? appendToSampleRollupsSql(
            meters,
            `(SELECT * FROM inserted WHERE workload_id = ANY($${appendOnlyParam}::uuid[]) AND (SELECT count(*) FROM inserted) = $${allInsertedParam}::bigint)`,
            allInsertedParam + 1,
          )
        : null;
    if (!append) {
      return queryRows(manager, `WITH inserted AS (${insert}) SELECT dedupe_key, workload_id, sampled_at FROM inserted`, params);
    }
    return queryRows(
      manager,
      `WITH inserted AS (${insert}), appended AS (${append.sql}) SELECT dedupe_key, workload_id, sampled_at FROM inserted`,
      [...params, appendOnly, rows.length, ...append.params],
    );
  }

  /** Counter deltas of every stored sample of each workload from `since` on, read back from the table (the slow, always-right path). */
  private async recomputeDeltas(manager: EntityManager, workloads: string[], since: Date[]): Promise<void> {
    const { rows, previous } = await this.storedFrom(manager, workloads, since);
    const byWorkload = new Map<string, Row[]>();
    for (const row of rows) {
      const list = byWorkload.get(row.workload_id);
      if (list) list.push(row);
      else byWorkload.set(row.workload_id, [row]);
    }
    for (const list of byWorkload.values()) list.sort(byTimeThenKey);
    const before = await this.readingsBefore(manager, byWorkload, new Map(workloads.map((w, i) => [w, since[i] as Date])), previous);
    const keys: string[] = [];
    const deltas: Record<DeltaColumn, string[]> = Object.fromEntries(COUNTERS.map((c) => [c.delta, []])) as unknown as Record<DeltaColumn, string[]>;
    for (const [workloadId, list] of byWorkload) {
      const perCounter = COUNTERS.map((c) =>
        counterDeltas(
          before.get(`${workloadId}/${c.column}`) ?? null,
          list.map((row) => ({ handleId: row.handle_id, value: row[c.column] === null ? null : BigInt(row[c.column] as string) })),
        ),
      );
      list.forEach((row, i) => {
        keys.push(row.dedupe_key);
        COUNTERS.forEach((c, k) => deltas[c.delta].push(String(perCounter[k]?.[i] ?? 0n)));
      });
    }
    if (keys.length === 0) return;
    await manager.query(
      `UPDATE ${S}."samples" s SET ${COUNTERS.map((c) => `${c.delta} = c.${c.delta}`).join(', ')}
       FROM unnest($1::text[], ${COUNTERS.map((_c, i) => `$${i + 2}::numeric[]`).join(', ')}) AS c(key, ${COUNTERS.map((c) => c.delta).join(', ')})
       WHERE s.dedupe_key = c.key`,
      [keys, ...COUNTERS.map((c) => deltas[c.delta])],
    );
  }
}

/** A stored (or about to be stored) sample as the delta computation sees it; a delta is null until computed for a new one. */
type Row = { dedupe_key: string; workload_id: string; handle_id: string; sampled_at: Date } & Record<CounterColumn | DeltaColumn, string | null>;

/** The order of samples within a workload, the same as the SQL `ORDER BY sampled_at, dedupe_key COLLATE "C"`. */
function byTimeThenKey(a: Row, b: Row): number {
  const byTime = a.sampled_at.getTime() - b.sampled_at.getTime();
  if (byTime !== 0) return byTime;
  return a.dedupe_key < b.dedupe_key ? -1 : a.dedupe_key > b.dedupe_key ? 1 : 0;
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
