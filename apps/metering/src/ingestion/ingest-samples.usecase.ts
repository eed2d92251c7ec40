import type { JsMsg } from '@nats-io/jetstream';
import { nodeIdOfSubject, type UsageSample } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import type { DataSource, EntityManager } from 'typeorm';
import { copyRows } from '../database/copy';
import { lockWorkloads, queryRows, SCHEMA } from '../database/sql';
import { floorToHour } from '../rollups/hour-split';
import { appendToSampleRollupsSql, isAppendable, loadSampleMeters, recomputeSampleRollups, type SampleMeter } from '../rollups/rollup-store';
import type { BatchOutcome } from './batch-consumer';
import { counterDelta, type CounterReading } from './counter-deltas';
import { checkPlacement, type PlacementFact, type PlacementVerdict } from './placements';
import { checkUsageSample } from './usage-sample-check';

const S = `"${SCHEMA}"`;
const HOUR_MS = 3_600_000;
export const USAGE_SUBJECT_PATTERN = 'agent.*.evt.usage.v1';

/**
 * How a sample whose workload's placement metering has not seen yet is held: nak'ed for a
 * redelivery after `holdMs`, at most `maxDeliveries` deliveries in all; then it is rejected.
 */
export interface PlacementPolicy {
  slackMs: number;
  holdMs: number;
  maxDeliveries: number;
}

export const DEFAULT_PLACEMENT_POLICY: PlacementPolicy = { slackMs: 30_000, holdMs: 5_000, maxDeliveries: 24 };

export interface AcceptedSample extends UsageSample {
  dedupeKey: string;
  /** `sampledAt`, epoch ms. */
  at: number;
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
    /**
     * Concurrent transactions per batch: the batch's workloads are split into this many
     * disjoint groups, each stored in its own transaction on its own connection (what two
     * replicas on the same consumer do, within one batch), so PostgreSQL writes on several
     * cores while this process prepares the next group. Groups never share a workload, so
     * they take disjoint advisory locks and touch disjoint rollup rows.
     */
    private readonly writers = 1,
    private readonly now: () => Date = () => new Date(),
    private readonly placement: PlacementPolicy = DEFAULT_PLACEMENT_POLICY,
  ) {}

  /** Samples refused by the placement check since start, per reason (reported with every refusal's log line). */
  readonly rejected: Record<string, number> = {};

  /**
   * Parses and validates a message as it arrives (BatchConsumer keeps the result with the
   * message): the next batch is checked while the previous one is being written, instead of
   * after it. Null: a bad message, to be terminated.
   */
  prepare(message: JsMsg): AcceptedSample | null {
    return this.parse(message);
  }

  /** `prepared[i]`, when given, is `prepare(batch[i])`. */
  async execute(batch: JsMsg[], prepared?: ReadonlyArray<AcceptedSample | null>): Promise<BatchOutcome> {
    const terminated = new Set<JsMsg>();
    const accepted = new Map<string, AcceptedSample>();
    const messages = new Map<AcceptedSample, JsMsg>();
    // Samples from hours already purged (or about to be) would be rolled up against missing neighbours.
    const oldestAccepted = floorToHour(new Date(this.now().getTime() - this.retentionMs)).getTime() + HOUR_MS;
    const ready = prepared !== undefined && prepared.length === batch.length;
    for (let i = 0; i < batch.length; i += 1) {
      const message = batch[i] as JsMsg;
      const sample = ready ? (prepared[i] ?? null) : this.parse(message);
      if (!sample) terminated.add(message);
      else if (sample.at < oldestAccepted) {
        this.logger.warn({ nodeId: sample.nodeId, workloadId: sample.workloadId, sampledAt: sample.sampledAt }, 'terminated usage sample older than the retention period');
        terminated.add(message);
      } else {
        accepted.set(sample.dedupeKey, sample);
        messages.set(sample, message);
      }
    }
    const held = await this.checkPlacements(messages, accepted, terminated);
    if (accepted.size > 0) {
      const groups = splitByWorkload([...accepted.values()], this.writers);
      // Every group runs to its end before the batch counts as failed: a failure naks the whole batch, and the groups
      // that committed are then redelivered as duplicates (stored once, nothing added twice).
      const results = await Promise.allSettled(groups.map((group) => this.dataSource.transaction('READ COMMITTED', (manager) => this.store(manager, group))));
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
    }
    return { terminated, held, holdMs: this.placement.holdMs };
  }

  /**
   * Keeps in `accepted` only samples of a workload placed on the sending node at the sample's
   * time, for the workload's own tenant (placements.ts). The others are terminated (refused:
   * logged, counted) or, while the facts that would place them may still be on their way,
   * held for a redelivery, at most `maxDeliveries` deliveries; then they are refused too.
   */
  private async checkPlacements(messages: ReadonlyMap<AcceptedSample, JsMsg>, accepted: Map<string, AcceptedSample>, terminated: Set<JsMsg>): Promise<Set<JsMsg>> {
    const held = new Set<JsMsg>();
    if (accepted.size === 0) return held;
    const workloads = [...new Set([...accepted.values()].map((sample) => sample.workloadId))];
    const rows = await queryRows<{ workload_id: string; tenant_id: string; host_id: string | null; to_state: string; at: Date }>(
      this.dataSource.manager,
      `SELECT workload_id, tenant_id, host_id, to_state, at FROM ${S}."lifecycle_events" WHERE workload_id = ANY($1::uuid[]) ORDER BY workload_id, at, stream_seq`,
      [workloads],
    );
    const facts = new Map<string, PlacementFact[]>();
    for (const row of rows) {
      const fact: PlacementFact = { tenantId: row.tenant_id, hostId: row.host_id, to: row.to_state, at: row.at.getTime() };
      const list = facts.get(row.workload_id);
      if (list) list.push(fact);
      else facts.set(row.workload_id, [fact]);
    }
    /** Per dedupe key not accepted: held (true) or refused (false). */
    const decided = new Map<string, boolean>();
    const refused: Array<{ nodeId: string; workloadId: string; tenantId: string; sampledAt: string; reason: string }> = [];
    for (const [key, sample] of accepted) {
      const verdict: PlacementVerdict = checkPlacement(facts.get(sample.workloadId) ?? [], sample.nodeId, sample.tenantId, sample.at, this.placement);
      if (verdict.kind === 'accept') continue;
      accepted.delete(key);
      const deliveries = messages.get(sample)?.info.deliveryCount ?? Number.POSITIVE_INFINITY;
      if (verdict.kind === 'hold' && deliveries < this.placement.maxDeliveries) {
        decided.set(key, true);
        continue;
      }
      decided.set(key, false);
      const reason = verdict.kind === 'hold' ? (verdict.reason === 'unknown_workload' ? 'unknown_workload' : 'not_placed_on_node') : verdict.reason;
      this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
      refused.push({ nodeId: sample.nodeId, workloadId: sample.workloadId, tenantId: sample.tenantId, sampledAt: sample.sampledAt, reason });
    }
    if (decided.size === 0) return held;
    // Every message of a key (a duplicate in the same batch too) goes the same way.
    for (const [sample, message] of messages) {
      const hold = decided.get(sample.dedupeKey);
      if (hold === true) held.add(message);
      else if (hold === false) terminated.add(message);
    }
    if (refused.length > 0) {
      // One line per batch (an agent sending garbage must not flood the log), with the first few refusals and the totals since start.
      this.logger.warn({ refused: refused.length, examples: refused.slice(0, 5), rejectedSinceStart: { ...this.rejected } }, 'usage samples refused: workload not placed on the sending node at the sample time, or not of the claimed tenant');
    }
    if (held.size > 0) this.logger.debug({ holding: held.size, holdMs: this.placement.holdMs }, 'usage samples held until their workload’s placement arrives');
    return held;
  }

  /** Node id per subject: a handful of agents send every message, so the subject is split once per agent. */
  private readonly nodeIds = new Map<string, string | null>();

  private nodeIdOf(subject: string): string | null {
    let nodeId = this.nodeIds.get(subject);
    if (nodeId === undefined) {
      nodeId = nodeIdOfSubject(USAGE_SUBJECT_PATTERN, subject);
      // Bounded: subjects come from NATS permissions (one per agent), but a cache must not grow without end.
      if (this.nodeIds.size >= 10_000) this.nodeIds.clear();
      this.nodeIds.set(subject, nodeId);
    }
    return nodeId;
  }

  private parse(message: JsMsg): AcceptedSample | null {
    const nodeId = this.nodeIdOf(message.subject);
    let body: unknown;
    try {
      body = message.json();
    } catch (error) {
      this.logger.warn({ err: error, subject: message.subject, seq: message.seq }, 'terminated usage message: not JSON');
      return null;
    }
    const parsed = checkUsageSample(body);
    if (!nodeId || !parsed.success) {
      this.logger.warn({ subject: message.subject, seq: message.seq, issues: parsed.success ? undefined : parsed.issues }, 'terminated invalid usage sample');
      return null;
    }
    if (parsed.data.nodeId !== nodeId) {
      this.logger.warn({ subject: message.subject, seq: message.seq, claimed: parsed.data.nodeId }, 'terminated usage sample: node id does not match its subject');
      return null;
    }
    // The checked object is this message's own (fresh from JSON.parse or zod): extended in place, not copied.
    return Object.assign(parsed.data, { dedupeKey: `${nodeId}/${parsed.data.sampleId}`, at: Date.parse(parsed.data.sampledAt) });
  }

  /**
   * Locks the batch's workloads, computes every counter delta of the new samples (and of
   * stored successors a late sample changes) from what is stored, inserts the new samples
   * with their deltas, and recomputes the rollups of the hours they touch.
   */
  private async store(manager: EntityManager, samples: AcceptedSample[]): Promise<void> {
    const started = performance.now();
    // The per-workload lookups are estimated far above their real cost (the planner does not know a batch's times are
    // the latest), which crossed jit_above_cost: tens of ms compiling expressions for a query that runs in a few.
    // The staging table of insertAndAppend, once per connection (a notice that it exists is not wanted in the log).
    await manager.query(`SET LOCAL jit = off; SET LOCAL client_min_messages = warning; ${STAGING_DDL}; SET LOCAL client_min_messages TO DEFAULT`);
    const since = new Map<string, number>();
    for (const sample of samples) {
      const seen = since.get(sample.workloadId);
      if (seen === undefined || sample.at < seen) since.set(sample.workloadId, sample.at);
    }
    // Sorted, so two replicas lock workloads in the same order.
    const workloads = [...since.keys()].sort();
    await lockWorkloads(manager, workloads);
    const lockedAt = performance.now();
    const sinceList = workloads.map((w) => new Date(since.get(w) as number));
    const stored = await this.storedFrom(manager, workloads, sinceList);
    const storedKeys = new Set(stored.rows.map((row) => row.key));

    // Stored rows from each workload's earliest batch time on, plus the new samples, in time order.
    const byWorkload = new Map<string, Row[]>();
    const add = (row: Row) => {
      const list = byWorkload.get(row.workloadId);
      if (list) list.push(row);
      else byWorkload.set(row.workloadId, [row]);
    };
    for (const row of stored.rows) add(row);
    const freshRows: Row[] = [];
    for (const sample of samples) {
      if (storedKeys.has(sample.dedupeKey)) continue;
      const row: Row = {
        key: sample.dedupeKey,
        workloadId: sample.workloadId,
        handleId: sample.handleId,
        at: sample.at,
        values: [sample.cpuUsageNs, sample.networkRxBytes ?? null, sample.networkTxBytes ?? null, sample.blockReadBytes ?? null, sample.blockWriteBytes ?? null],
        deltas: [null, null, null, null, null],
        sample,
      };
      freshRows.push(row);
      add(row);
    }
    for (const list of byWorkload.values()) sortByTimeThenKey(list);
    const before = await this.readingsBefore(manager, byWorkload, since, stored.previous);
    const readAt = performance.now();
    const changed = new Set<Row>();
    for (const [workloadId, list] of byWorkload) {
      for (let c = 0; c < COUNTERS.length; c += 1) {
        applyDeltas(before.get(`${workloadId}/${c}`) ?? null, list, c, changed);
      }
    }

    // Workloads whose new samples all come after everything stored: their rollups can be added to.
    const appendOnly = new Set<string>();
    for (const [workloadId, list] of byWorkload) {
      let lastStored: Row | undefined;
      let firstFresh: Row | undefined;
      for (const row of list) {
        if (row.sample) firstFresh ??= row;
        else lastStored = row;
      }
      if (firstFresh && (!lastStored || lastStored.at < firstFresh.at)) appendOnly.add(workloadId);
    }
    const meters = await loadSampleMeters(manager);

    const insertedAt = performance.now();
    const copied = { ms: 0 };
    const inserted = await this.insertAndAppend(manager, freshRows, meters, appendOnly, appendOnly.size === byWorkload.size, copied);
    const insertedCount = inserted.reduce((sum, row) => sum + row.n, 0);
    if (insertedCount < freshRows.length) {
      // A key stored with another time than this payload's: the rows read above were not the whole picture (and the
      // statement appended nothing). Recompute from the table.
      this.logger.warn({ expected: freshRows.length, inserted: insertedCount }, 'usage samples conflicted outside their time; recomputing deltas from the table');
      appendOnly.clear();
      await this.recomputeDeltas(manager, workloads, sinceList);
    } else if (changed.size > 0) {
      await this.updateDeltas(manager, [...changed]);
    }
    if (insertedCount < samples.length) this.logger.debug({ duplicates: samples.length - insertedCount }, 'dropped duplicate usage samples');
    const deltasAt = performance.now();
    const ranges = inserted.map((row) => ({ workloadId: row.workload_id, fromHour: floorToHour(row.first_at) }));
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
      { samples: insertedCount, workloads: inserted.length, appended: appendOnly.size, lockMs: ms(started, lockedAt), readMs: ms(lockedAt, readAt), deltasMs: ms(readAt, insertedAt), copyMs: Math.round(copied.ms), insertMs: ms(insertedAt, deltasAt), rollupsMs: ms(deltasAt, performance.now()) },
      'usage batch stored',
    );
  }

  /** Stored samples of each workload from `since` on, and the one just before (whatever its readings). */
  private async storedFrom(manager: EntityManager, workloads: string[], since: Date[]): Promise<{ rows: Row[]; previous: Map<string, Row> }> {
    const columns = `s.dedupe_key, s.workload_id, s.handle_id, s.sampled_at, ${COUNTERS.map((c) => `s.${c.column}::text AS ${c.column}, s.${c.delta}::text AS ${c.delta}`).join(', ')}`;
    const [rows, previous] = await Promise.all([
      queryRows<StoredRow>(
        manager,
        // LATERAL (OFFSET 0 keeps it from being flattened into a join): an index range scan per workload. A plain join
        // let the planner hash the whole table (a sequential scan per batch, growing with the retention period: 0.6–0.8 s
        // at 240,000 stored samples).
        `SELECT s.* FROM unnest($1::uuid[], $2::timestamptz[]) AS w(id, since)
         CROSS JOIN LATERAL (SELECT ${columns} FROM ${S}."samples" s WHERE s.workload_id = w.id AND s.sampled_at >= w.since OFFSET 0) s`,
        [workloads, since],
      ),
      queryRows<StoredRow>(
        manager,
        `SELECT p.* FROM unnest($1::uuid[], $2::timestamptz[]) AS w(id, since)
         CROSS JOIN LATERAL (SELECT ${columns} FROM ${S}."samples" s WHERE s.workload_id = w.id AND s.sampled_at < w.since
                             ORDER BY s.sampled_at DESC, s.dedupe_key COLLATE "C" DESC LIMIT 1) p`,
        [workloads, since],
      ),
    ]);
    return { rows: rows.map(fromStored), previous: new Map(previous.map((row) => [row.workload_id, fromStored(row)])) };
  }

  /**
   * The last reading of each counter before each workload's range, only where the range has
   * readings of it: the previous sample's, or (when that one had none) the last that had one.
   * Keyed `<workloadId>/<counter index>`.
   */
  private async readingsBefore(manager: EntityManager, byWorkload: Map<string, Row[]>, since: Map<string, number>, previous: Map<string, Row>): Promise<Map<string, CounterReading>> {
    const before = new Map<string, CounterReading>();
    const missing: Array<{ workloadId: string; since: Date; counter: number }> = [];
    for (const [workloadId, list] of byWorkload) {
      const prev = previous.get(workloadId);
      if (!prev) continue;
      for (let c = 0; c < COUNTERS.length; c += 1) {
        const value = prev.values[c] ?? null;
        if (value !== null) {
          // Only needed where the range has a reading of the counter; setting it anyway is harmless.
          before.set(`${workloadId}/${c}`, { handleId: prev.handleId, value: BigInt(value) });
          continue;
        }
        if (!list.some((row) => row.values[c] !== null)) continue;
        missing.push({ workloadId, since: new Date(since.get(workloadId) as number), counter: c });
      }
    }
    if (missing.length === 0) return before;
    const found = await queryRows<{ workload_id: string; counter: number; handle_id: string; value: string }>(
      manager,
      `SELECT w.id AS workload_id, w.counter, b.handle_id, b.value
       FROM unnest($1::uuid[], $2::timestamptz[], $3::int[]) AS w(id, since, counter)
       CROSS JOIN LATERAL (
         SELECT s.handle_id, (CASE w.counter ${COUNTERS.map((c, i) => `WHEN ${i} THEN s.${c.column}`).join(' ')} END)::text AS value
         FROM ${S}."samples" s
         WHERE s.workload_id = w.id AND s.sampled_at < w.since AND (CASE w.counter ${COUNTERS.map((c, i) => `WHEN ${i} THEN s.${c.column}`).join(' ')} END) IS NOT NULL
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
   * Returns, per workload, how many rows went in and the earliest of them.
   */
  private async insertAndAppend(manager: EntityManager, rows: Row[], meters: readonly SampleMeter[], appendOnly: ReadonlySet<string>, allAppendOnly: boolean, copied: { ms: number }): Promise<InsertedPerWorkload[]> {
    if (rows.length === 0) return [];
    // The batch's rows go into a per-connection temporary table by COPY (a text stream; no 14 array parameters to build
    // and parse), then into samples with one set-based INSERT … SELECT. Both are in the batch's transaction: a rollback
    // leaves nothing in either, and the staging rows are deleted at commit (ON COMMIT DELETE ROWS).
    const copyStarted = performance.now();
    await copyRows(manager, `pg_temp.${STAGING} (${STAGING_COLUMNS.join(', ')})`, stagingRows(rows));
    copied.ms = performance.now() - copyStarted;
    const insert = `INSERT INTO ${S}."samples" (${STAGING_COLUMNS.map((c) => `"${c}"`).join(', ')})
       SELECT ${STAGING_COLUMNS.map((c) => `"${c}"`).join(', ')} FROM pg_temp.${STAGING}
       ON CONFLICT ("dedupe_key") DO NOTHING
       RETURNING *`;
    const summary = `SELECT workload_id, min(sampled_at) AS first_at, count(*)::int AS n FROM inserted GROUP BY workload_id`;
    const params: unknown[] = [];
    const allInsertedParam = params.length + 1;
    const appendOnlyParam = params.length + 2;
    const filter = allAppendOnly ? '' : `workload_id = ANY($${appendOnlyParam}::uuid[]) AND `;
    const append =
      appendOnly.size > 0
        ? appendToSampleRollupsSql(meters, `(SELECT * FROM inserted WHERE ${filter}(SELECT count(*) FROM inserted) = $${allInsertedParam}::bigint)`, appendOnlyParam + (allAppendOnly ? 0 : 1))
        : null;
    if (!append) return queryRows(manager, `WITH inserted AS (${insert}) ${summary}`, params);
    return queryRows(manager, `WITH inserted AS (${insert}), appended AS (${append.sql}) ${summary}`, [...params, rows.length, ...(allAppendOnly ? [] : [[...appendOnly]]), ...append.params]);
  }

  private async updateDeltas(manager: EntityManager, rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    await manager.query(
      `UPDATE ${S}."samples" s SET ${COUNTERS.map((c) => `${c.delta} = c.${c.delta}`).join(', ')}
       FROM unnest($1::text[], ${COUNTERS.map((_c, i) => `$${i + 2}::numeric[]`).join(', ')}) AS c(key, ${COUNTERS.map((c) => c.delta).join(', ')})
       WHERE s.dedupe_key = c.key`,
      [rows.map((row) => row.key), ...COUNTERS.map((_c, i) => rows.map((row) => row.deltas[i] ?? '0'))],
    );
  }

  /** Counter deltas of every stored sample of each workload from `since` on, read back from the table (the slow, always-right path). */
  private async recomputeDeltas(manager: EntityManager, workloads: string[], since: Date[]): Promise<void> {
    const { rows, previous } = await this.storedFrom(manager, workloads, since);
    const byWorkload = new Map<string, Row[]>();
    for (const row of rows) {
      const list = byWorkload.get(row.workloadId);
      if (list) list.push(row);
      else byWorkload.set(row.workloadId, [row]);
    }
    for (const list of byWorkload.values()) sortByTimeThenKey(list);
    const before = await this.readingsBefore(manager, byWorkload, new Map(workloads.map((w, i) => [w, (since[i] as Date).getTime()])), previous);
    const all: Row[] = [];
    for (const [workloadId, list] of byWorkload) {
      // Recomputed from scratch: every row is written back.
      for (const row of list) row.deltas = [null, null, null, null, null];
      for (let c = 0; c < COUNTERS.length; c += 1) applyDeltas(before.get(`${workloadId}/${c}`) ?? null, list, c, new Set());
      all.push(...list);
    }
    await this.updateDeltas(manager, all);
  }
}

/** The columns a new sample is written with, in the order of the staging table and its COPY. */
const STAGING_COLUMNS = [
  'dedupe_key',
  'tenant_id',
  'workload_id',
  'node_id',
  'handle_id',
  'sampled_at',
  'memory_bytes',
  'memory_peak_bytes',
  'pids',
  'cpu_usage_ns',
  'cpu_delta_ns',
  'net_rx_bytes',
  'net_rx_delta',
  'net_tx_bytes',
  'net_tx_delta',
  'blk_read_bytes',
  'blk_read_delta',
  'blk_write_bytes',
  'blk_write_delta',
] as const;
const STAGING = 'metering_samples_staging';
const STAGING_TYPES: Record<(typeof STAGING_COLUMNS)[number], string> = {
  dedupe_key: 'text',
  tenant_id: 'uuid',
  workload_id: 'uuid',
  node_id: 'text',
  handle_id: 'text',
  sampled_at: 'timestamptz',
  memory_bytes: 'bigint',
  memory_peak_bytes: 'bigint',
  pids: 'integer',
  cpu_usage_ns: 'numeric',
  cpu_delta_ns: 'numeric',
  net_rx_bytes: 'numeric',
  net_rx_delta: 'numeric',
  net_tx_bytes: 'numeric',
  net_tx_delta: 'numeric',
  blk_read_bytes: 'numeric',
  blk_read_delta: 'numeric',
  blk_write_bytes: 'numeric',
  blk_write_delta: 'numeric',
};
/** Temporary (this connection only), emptied at every commit; created by the first batch on a connection. */
const STAGING_DDL = `CREATE TEMPORARY TABLE IF NOT EXISTS ${STAGING} (${STAGING_COLUMNS.map((c) => `"${c}" ${STAGING_TYPES[c]}`).join(', ')}) ON COMMIT DELETE ROWS`;

/** The new rows as staging rows (STAGING_COLUMNS order). */
function* stagingRows(rows: readonly Row[]): Generator<Array<string | number | null>> {
  for (const row of rows) {
    const sample = row.sample as AcceptedSample;
    const out: Array<string | number | null> = [row.key, sample.tenantId, row.workloadId, sample.nodeId, row.handleId, sample.sampledAt, sample.memoryBytes, sample.memoryPeakBytes, sample.pids];
    for (let c = 0; c < COUNTERS.length; c += 1) out.push(row.values[c] ?? null, row.deltas[c] ?? '0');
    yield out;
  }
}

/** Per workload, what one batch's insert put in. */
type InsertedPerWorkload = { workload_id: string; first_at: Date; n: number };

/** A stored (or about to be stored) sample as the delta computation sees it. Counters in COUNTERS order; a delta is null until computed for a new one. */
interface Row {
  key: string;
  workloadId: string;
  handleId: string;
  /** Sample time, epoch ms. */
  at: number;
  values: Array<string | null>;
  deltas: Array<string | null>;
  /** The batch's sample, for a new row; null for a stored one. */
  sample: AcceptedSample | null;
}

type StoredRow = { dedupe_key: string; workload_id: string; handle_id: string; sampled_at: Date } & Record<CounterColumn | DeltaColumn, string | null>;

function fromStored(row: StoredRow): Row {
  return {
    key: row.dedupe_key,
    workloadId: row.workload_id,
    handleId: row.handle_id,
    at: row.sampled_at.getTime(),
    values: COUNTERS.map((c) => row[c.column]),
    deltas: COUNTERS.map((c) => row[c.delta]),
    sample: null,
  };
}

/**
 * Deltas of counter `c` over a workload's rows in time order (see counterDeltas: a reset or
 * new handle counts the new value, a missing reading adds 0 and is skipped over). A row whose
 * stored delta changes is put in `changed`.
 */
function applyDeltas(before: CounterReading | null, list: readonly Row[], c: number, changed: Set<Row>): void {
  let previous = before;
  for (const row of list) {
    const raw = row.values[c] ?? null;
    let delta = '0';
    if (raw !== null) {
      const current: CounterReading = { handleId: row.handleId, value: BigInt(raw) };
      delta = counterDelta(previous, current).toString();
      previous = current;
    }
    const old = row.deltas[c] ?? null;
    if (old === delta) continue;
    if (old !== null) changed.add(row);
    row.deltas[c] = delta;
  }
}

/** The order of samples within a workload, the same as the SQL `ORDER BY sampled_at, dedupe_key COLLATE "C"`; a list already in order (the usual case) is left as it is. */
function sortByTimeThenKey(list: Row[]): void {
  for (let i = 1; i < list.length; i += 1) {
    if (byTimeThenKey(list[i - 1] as Row, list[i] as Row) > 0) {
      list.sort(byTimeThenKey);
      return;
    }
  }
}

/** The samples in at most `groups` non-empty groups, every workload's samples in one group. */
function splitByWorkload(samples: AcceptedSample[], groups: number): AcceptedSample[][] {
  if (groups <= 1) return [samples];
  const out: AcceptedSample[][] = Array.from({ length: groups }, () => []);
  // workloadId is a validated UUID: its last hex digits are as good as a hash.
  for (const sample of samples) (out[parseInt(sample.workloadId.slice(-4), 16) % groups] as AcceptedSample[]).push(sample);
  return out.filter((group) => group.length > 0);
}

function byTimeThenKey(a: Row, b: Row): number {
  const byTime = a.at - b.at;
  if (byTime !== 0) return byTime;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
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
