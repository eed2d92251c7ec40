import { Transform, type TransformCallback } from 'node:stream';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { OciError } from '../distribution/oci-error';
import type { RegistryContext } from '../common/registry-context';

/** A chunk of unknown length (Docker streams layers without Content-Length) reserves this much at a time. */
export const RESERVATION_STEP_BYTES = 8 * 1024 * 1024;

/**
 * Open upload sessions count against the tenant's storage quota (issue 20, item 8): a byte is
 * accepted into a session only after it was reserved under the tenant's usage row lock — the
 * lock blob links take too — against `quota − used − (offset + reserved of every live session
 * of the namespace)`. So stored blobs plus everything in flight never exceed the quota, however
 * many sessions a tenant opens. Reservations end with the chunk (they become `offset`), and
 * a session's bytes stop counting when it completes, is cancelled, or expires.
 */
export class UploadReservations {
  constructor(private readonly context: RegistryContext) {}

  /** Reserves up to `want` bytes for the session; returns how many were granted (0 when the quota is full). */
  async reserve(session: { id: string; namespace: string }, want: number): Promise<number> {
    const settings = this.context.settings;
    return inTransaction(this.context.dataSource, async (manager) => {
      // Locks the tenant's usage row (creating it when new), the lock blob links take too.
      await queryRows(
        manager,
        `INSERT INTO "${SCHEMA}"."tenant_storage" (namespace) VALUES ($1)
         ON CONFLICT (namespace) DO UPDATE SET namespace = EXCLUDED.namespace`,
        [session.namespace],
      );
      // A statement that starts after the lock is held, so it sees every committed reservation.
      const [row] = await queryRows<{ granted: string }>(
        manager,
        `WITH room AS (
           SELECT COALESCE(ts.quota_bytes, $3) - ts.used_bytes - COALESCE((
                    SELECT SUM(u."offset" + u.reserved_bytes) FROM "${SCHEMA}"."uploads" u
                     WHERE u.namespace = ts.namespace AND u.updated_at > now() - make_interval(secs => $4)), 0) AS bytes
             FROM "${SCHEMA}"."tenant_storage" ts WHERE ts.namespace = $2)
         UPDATE "${SCHEMA}"."uploads" SET reserved_bytes = reserved_bytes + GREATEST(0, LEAST($5::bigint, (SELECT bytes FROM room))), updated_at = now()
          WHERE id = $1
         RETURNING GREATEST(0, LEAST($5::bigint, (SELECT bytes FROM room)))::text AS granted`,
        [session.id, session.namespace, settings.defaultQuotaBytes, settings.uploadTtlSeconds, want],
      );
      return Number(row?.granted ?? 0);
    });
  }

  /**
   * Passes the bytes of one chunk through, reserving ahead of them: all of `declared` at once
   * when the length is known (refused before a byte is read when it does not fit), otherwise
   * step by step. Fails with DENIED as soon as the quota has no room for the next bytes.
   */
  async gate(session: { id: string; namespace: string }, declared: number | undefined): Promise<Transform> {
    let reserved = 0;
    let passed = 0;
    const refuse = () => new OciError('DENIED', `storage quota of tenant ${session.namespace} exceeded by this upload (bytes in open uploads count)`, { namespace: session.namespace });
    if (declared !== undefined && declared > 0) {
      reserved = await this.reserve(session, declared);
      if (reserved < declared) throw refuse();
    }
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        const needed = passed + chunk.length - reserved;
        if (needed <= 0) {
          passed += chunk.length;
          return callback(null, chunk);
        }
        if (declared !== undefined) return callback(refuse());
        this.reserve(session, Math.max(needed, RESERVATION_STEP_BYTES)).then(
          (granted) => {
            reserved += granted;
            if (granted < needed) return callback(refuse());
            passed += chunk.length;
            callback(null, chunk);
          },
          (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
        );
      },
    });
  }
}
