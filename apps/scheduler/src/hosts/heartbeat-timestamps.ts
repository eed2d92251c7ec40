import type { DataSource } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';

/**
 * The columns a heartbeat writes, hashed the same way everywhere: what this replica last
 * wrote (or saw) for a host, compared under the row lock before only a timestamp is written.
 */
export const HOST_CONTENT_HASH = (alias: string) =>
  `md5(row(${alias}."drivers", ${alias}."labels", ${alias}."capacity_cpu_millis", ${alias}."capacity_memory_mib", ${alias}."capacity_pids", ${alias}."images", ${alias}."boot_id")::text)`;

export interface FlushResult {
  /** Timestamp written. */
  written: string[];
  /** The row is not what this replica believed (unreachable, lost, decommissioned, absent, or its content differs): take the full path. */
  stale: string[];
  /** Locked by someone else right now: kept for the next flush. */
  busy: string[];
}

/**
 * Coalesces the timestamps of unchanged heartbeats into one statement per `flushMs`.
 *
 * A heartbeat whose content (drivers, labels, capacity, images, boot id) is what this replica
 * last wrote for the host needs only `last_heartbeat_at = now()`. At 10,000 hosts and one
 * heartbeat per 30 s that is 333 transactions per second otherwise; batched it is a few
 * `UPDATE … FROM unnest(…)` per second. Each row is updated only if, on its newest version,
 * the host is in a state heartbeats keep alive (not unreachable, lost or decommissioned) and its content
 * still hashes to what this replica knows; rows another transaction holds are skipped (never
 * waited for, so a flush cannot deadlock with a create holding several host rows) and kept
 * for the next flush. Whatever fails the check goes back to the caller for the full,
 * transactional path (`stale`), which also handles a lost host coming back.
 *
 * The timestamp lands at most `flushMs` (plus one statement) after the heartbeat arrived;
 * `flushMs` is kept well below the heartbeat interval, and a host is lost only after several
 * missed intervals.
 */
export class HeartbeatTimestamps {
  /** nodeId → content hash expected in the row. */
  private readonly pending = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly flushMs: number,
    /** Called with the hosts a flush could not vouch for, and with a flush's error. */
    private readonly onFlushed: (result: FlushResult) => void,
    private readonly onError: (error: unknown, nodeIds: string[]) => void,
  ) {}

  /** Records that `nodeId` heartbeated with content hashing to `hash`. */
  add(nodeId: string, hash: string): void {
    this.pending.set(nodeId, hash);
    if (!this.timer && !this.closed) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.flushMs);
      this.timer.unref?.();
    }
  }

  /** Forgets a pending timestamp (the full path is writing the row anyway). */
  drop(nodeId: string): void {
    this.pending.delete(nodeId);
  }

  /** Writes what is pending now (waits for a flush in progress first). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = [...this.pending].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.pending.clear();
    this.flushing = this.write(batch)
      .then((result) => {
        // Busy rows retry on the next flush unless a newer heartbeat replaced them meanwhile.
        const hashes = new Map(batch);
        for (const nodeId of result.busy) if (!this.pending.has(nodeId)) this.add(nodeId, hashes.get(nodeId)!);
        this.onFlushed(result);
      })
      .catch((error: unknown) => {
        // A later heartbeat retries; losing one timestamp costs nothing while the host keeps beating.
        this.onError(error, batch.map(([nodeId]) => nodeId));
      })
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }

  /** Stops the timer and writes what is pending. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }

  private async write(batch: Array<[string, string]>): Promise<FlushResult> {
    const ids = batch.map(([nodeId]) => nodeId);
    const hashes = batch.map(([, hash]) => hash);
    // "locked": the rows whose newest version still matches (FOR UPDATE re-checks the WHERE on
    // it), skipping rows someone holds. "updated": their timestamp. The outer SELECT sorts the
    // rest by this statement's snapshot: rows that match there were only locked (busy).
    const rows = await queryRows<{ id: string; updated: boolean; matches: boolean }>(
      this.dataSource.manager,
      `WITH "beat" AS (
         SELECT * FROM unnest($1::text[], $2::text[]) AS b("id", "hash")
       ), "locked" AS (
         SELECT h."id" FROM "${SCHEMA}"."hosts" h JOIN "beat" b ON b."id" = h."id"
          WHERE h."state" NOT IN ('unreachable', 'lost', 'decommissioned') AND ${HOST_CONTENT_HASH('h')} = b."hash"
          ORDER BY h."id" FOR UPDATE OF h SKIP LOCKED
       ), "updated" AS (
         UPDATE "${SCHEMA}"."hosts" h SET "last_heartbeat_at" = now() FROM "locked" WHERE h."id" = "locked"."id" RETURNING h."id"
       )
       SELECT b."id", (u."id" IS NOT NULL) AS "updated",
              (h."id" IS NOT NULL AND h."state" NOT IN ('unreachable', 'lost', 'decommissioned') AND ${HOST_CONTENT_HASH('h')} = b."hash") AS "matches"
         FROM "beat" b
         LEFT JOIN "updated" u ON u."id" = b."id"
         LEFT JOIN "${SCHEMA}"."hosts" h ON h."id" = b."id"`,
      [ids, hashes],
    );
    const result: FlushResult = { written: [], stale: [], busy: [] };
    for (const row of rows) {
      if (row.updated) result.written.push(row.id);
      else if (row.matches) result.busy.push(row.id);
      else result.stale.push(row.id);
    }
    return result;
  }
}
