import type { JsMsg } from '@nats-io/jetstream';
import { nodeIdOfSubject, UsageSampleSchema, type UsageSample } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import type { DataSource, EntityManager } from 'typeorm';
import { lockWorkload, queryRows, SCHEMA } from '../database/sql';
import { floorToHour } from '../rollups/hour-split';
import { recomputeSampleRollups } from '../rollups/rollup-store';
import type { BatchOutcome } from './batch-consumer';
import { counterDeltas } from './counter-deltas';

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
    const inserted = await queryRows<{ workload_id: string; sampled_at: Date }>(
      manager,
      `INSERT INTO ${S}."samples" ("dedupe_key", "tenant_id", "workload_id", "node_id", "handle_id", "sampled_at", "cpu_usage_ns", "memory_bytes", "memory_peak_bytes", "pids")
       SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[], $7::numeric[], $8::bigint[], $9::bigint[], $10::int[])
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
      ],
    );
    const earliest = new Map<string, Date>();
    for (const row of inserted) {
      const seen = earliest.get(row.workload_id);
      if (!seen || row.sampled_at < seen) earliest.set(row.workload_id, row.sampled_at);
    }
    // Sorted, so two replicas lock workloads in the same order.
    for (const workloadId of [...earliest.keys()].sort()) {
      const from = earliest.get(workloadId) as Date;
      await lockWorkload(manager, workloadId);
      await this.recomputeDeltas(manager, workloadId, from);
      await recomputeSampleRollups(manager, workloadId, floorToHour(from));
    }
    if (inserted.length < samples.length) this.logger.debug({ duplicates: samples.length - inserted.length }, 'dropped duplicate usage samples');
  }

  /** CPU deltas of every sample from `from` on (a late sample changes its successor's delta too). */
  private async recomputeDeltas(manager: EntityManager, workloadId: string, from: Date): Promise<void> {
    type Row = { dedupe_key: string; handle_id: string; cpu_usage_ns: string; cpu_delta_ns: string };
    const [before] = await queryRows<Row>(
      manager,
      `SELECT dedupe_key, handle_id, cpu_usage_ns::text AS cpu_usage_ns, cpu_delta_ns::text AS cpu_delta_ns FROM ${S}."samples"
       WHERE workload_id = $1 AND sampled_at < $2 ORDER BY sampled_at DESC, dedupe_key DESC LIMIT 1`,
      [workloadId, from],
    );
    const rows = await queryRows<Row>(
      manager,
      `SELECT dedupe_key, handle_id, cpu_usage_ns::text AS cpu_usage_ns, cpu_delta_ns::text AS cpu_delta_ns FROM ${S}."samples"
       WHERE workload_id = $1 AND sampled_at >= $2 ORDER BY sampled_at, dedupe_key`,
      [workloadId, from],
    );
    const reading = (row: Row) => ({ handleId: row.handle_id, value: BigInt(row.cpu_usage_ns) });
    const deltas = counterDeltas(before ? reading(before) : null, rows.map(reading));
    const changed = rows.map((row, i) => ({ key: row.dedupe_key, delta: String(deltas[i]) })).filter((c, i) => c.delta !== rows[i]?.cpu_delta_ns);
    if (changed.length === 0) return;
    await manager.query(
      `UPDATE ${S}."samples" s SET cpu_delta_ns = c.delta FROM unnest($1::text[], $2::numeric[]) AS c(key, delta) WHERE s.dedupe_key = c.key`,
      [changed.map((c) => c.key), changed.map((c) => c.delta)],
    );
  }
}
