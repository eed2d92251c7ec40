import type { JsMsg } from '@nats-io/jetstream';
import { RegistryStorageSampleSchema } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import type { DataSource, EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import type { BatchOutcome } from '../ingestion/batch-consumer';
import { floorToHour } from '../rollups/hour-split';
import { rebuildRegistryRollups } from '../rollups/rollup-store';

const S = `"${SCHEMA}"`;
export const REGISTRY_STORAGE_SUBJECT = 'evt.registry.storage.v1';

/**
 * A tenant's registry storage as a step function cut at hour boundaries: each repository
 * holds a sample's bytes from the sample's time to its next sample (the latest one up to
 * `$2`, the last complete hour), so its GiB-hours are Σ bytes × seconds held. Columns:
 * repository, bytes, hour, started_at, seconds (exact numeric).
 */
const SEGMENTS_SQL = `
  SELECT s.repository, s.bytes, h.hour, GREATEST(s.at, h.hour) AS started_at,
         extract(epoch FROM LEAST(s.until, h.hour + interval '1 hour') - GREATEST(s.at, h.hour)) AS seconds
  FROM (
    SELECT repository, bytes, at, COALESCE(lead(at) OVER w, GREATEST($2::timestamptz, at)) AS until
    FROM ${S}."registry_storage_samples" WHERE tenant_id = $1
    WINDOW w AS (PARTITION BY repository ORDER BY at, sample_id)
  ) s
  CROSS JOIN LATERAL generate_series(date_trunc('hour', s.at, 'UTC'), s.until - interval '1 microsecond', interval '1 hour') AS h(hour)
  WHERE s.until > s.at`;

/**
 * Registry storage samples (`evt.registry.storage.v1`) to `registry.storage.gib_hours`.
 * Samples are stored once per (tenant, sampleId); each affected tenant's rollups are then
 * rebuilt from the earliest hour a new sample can change, so duplicates, redeliveries, late
 * samples and replays all give the same result.
 */
export class RecordRegistryStorageUseCase {
  /** Up to where open-ended storage was last extended by this process (null: not yet). */
  private rolledUpTo: Date | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
    private readonly retentionMs: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async execute(batch: JsMsg[]): Promise<BatchOutcome> {
    const terminated = new Set<JsMsg>();
    // Hours before the purge horizon may lack the samples a late one would be compared with.
    const oldestAccepted = floorToHour(new Date(this.now().getTime() - this.retentionMs)).getTime() + 3_600_000;
    const rows = new Map<string, [string, string, string, number, string, string]>();
    for (const message of batch) {
      let body: unknown;
      try {
        body = message.json();
      } catch {
        body = undefined;
      }
      const parsed = RegistryStorageSampleSchema.safeParse(body);
      if (!parsed.success) {
        this.logger.warn({ subject: message.subject, seq: message.seq, issues: parsed.error.issues }, 'terminated invalid registry storage sample');
        terminated.add(message);
        continue;
      }
      const s = parsed.data;
      if (Date.parse(s.at) < oldestAccepted) {
        this.logger.warn({ tenantId: s.tenantId, repository: s.repository, at: s.at }, 'terminated registry storage sample older than the retention period');
        terminated.add(message);
        continue;
      }
      // The first one with a sample id wins, in a batch as in the table.
      const key = `${s.tenantId}/${s.sampleId}`;
      if (!rows.has(key)) rows.set(key, [s.tenantId, s.sampleId, s.repository, s.bytes, s.at, String(message.seq)]);
    }
    if (rows.size > 0) {
      const values = [...rows.values()];
      await this.dataSource.transaction('READ COMMITTED', async (manager) => {
        const inserted = await queryRows<{ tenant_id: string; at: Date }>(
          manager,
          `INSERT INTO ${S}."registry_storage_samples" ("tenant_id", "sample_id", "repository", "bytes", "at", "stream_seq")
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::bigint[])
           ON CONFLICT ("tenant_id", "sample_id") DO NOTHING RETURNING "tenant_id", "at"`,
          Array.from({ length: 6 }, (_, column) => values.map((row) => row[column])),
        );
        const earliest = new Map<string, Date>();
        for (const row of inserted) {
          const seen = earliest.get(row.tenant_id);
          if (!seen || row.at < seen) earliest.set(row.tenant_id, row.at);
        }
        for (const tenantId of [...earliest.keys()].sort()) await this.rebuild(manager, tenantId, floorToHour(earliest.get(tenantId) as Date));
      });
    }
    return { terminated };
  }

  /**
   * Extends every tenant's storage held since its repositories' latest samples up to the last
   * complete hour. Only the hours since the previous roll-forward change, so after the first
   * run (a full rebuild from each tenant's oldest latest sample) it rewrites at most the new
   * hours, and nothing at all within the same hour.
   */
  async rollForward(): Promise<number> {
    const cutoff = floorToHour(this.now());
    if (this.rolledUpTo && this.rolledUpTo.getTime() >= cutoff.getTime()) return 0;
    const tenants = await queryRows<{ tenant_id: string; from_at: Date }>(
      this.dataSource.manager,
      `SELECT tenant_id, min(last_at) AS from_at FROM (
         SELECT tenant_id, repository, max(at) AS last_at FROM ${S}."registry_storage_samples" GROUP BY tenant_id, repository
       ) latest GROUP BY tenant_id`,
    );
    for (const { tenant_id: tenantId, from_at: fromAt } of tenants) {
      const fromHour = floorToHour(this.rolledUpTo && this.rolledUpTo > fromAt ? this.rolledUpTo : fromAt);
      await this.dataSource.transaction('READ COMMITTED', (manager) => this.rebuild(manager, tenantId, fromHour));
    }
    this.rolledUpTo = cutoff;
    return tenants.length;
  }

  /** Deletes samples older than `before`, except each repository's latest: it still says what is held now. */
  async purge(before: Date): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM ${S}."registry_storage_samples" r WHERE r.at < $1
         AND EXISTS (SELECT 1 FROM ${S}."registry_storage_samples" n WHERE n.tenant_id = r.tenant_id AND n.repository = r.repository AND n.at > r.at)`,
      [before],
    );
  }

  private async rebuild(manager: EntityManager, tenantId: string, fromHour: Date): Promise<void> {
    await manager.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`metering.registry.${tenantId}`]);
    await rebuildRegistryRollups(manager, tenantId, fromHour, SEGMENTS_SQL, [tenantId, floorToHour(this.now())]);
    this.logger.debug({ tenantId, fromHour }, 'registry storage rollups rebuilt');
  }
}
