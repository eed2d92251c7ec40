import type { GcReport } from '@gureum/contracts';
import { enqueueEvent } from '@gureum/messaging';
import { hasSqlState, inTransaction, queryRows, SCHEMA } from '../database/sql';
import { lockDigest, unlinkBlob } from '../quota/storage-accounting';
import type { RegistryContext } from '../common/registry-context';

const FOREIGN_KEY_VIOLATION = new Set(['23503']);

/**
 * Online garbage collection, mark-free: everything is decided by queries over what is
 * referenced right now, and nothing younger than the grace period is touched. A push in
 * flight uploads its layers (links created now) before its manifest, so its blobs are
 * safe for a whole grace period even though nothing references them yet.
 *
 * 1. Manifests that no tag, no index in the same repository and no live subject keep
 *    alive (referrers of a live image survive with it); repeated until nothing changes,
 *    since removing an index can orphan its children.
 * 2. Repository links to blobs that no manifest of the repository references.
 * 3. Blobs linked nowhere: their rows, then their bytes.
 * 4. Upload sessions idle for longer than the upload TTL.
 */
export class CollectGarbage {
  private running: Promise<GcReport> | null = null;

  constructor(private readonly context: RegistryContext) {}

  /** Runs are never concurrent: a second caller gets the result of the run in progress. */
  execute(command: { gracePeriodSeconds?: number } = {}): Promise<GcReport> {
    this.running ??= this.run(command.gracePeriodSeconds ?? this.context.settings.gcGraceSeconds).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async run(graceSeconds: number): Promise<GcReport> {
    const { dataSource, store, settings } = this.context;
    const report: GcReport = { manifestsDeleted: 0, linksDeleted: 0, blobsDeleted: 0, uploadsExpired: 0, bytesFreed: 0 };
    const touched = new Set<string>();

    for (;;) {
      const deleted = await inTransaction(dataSource, async (manager) => {
        const rows = await queryRows<{ repository_id: string; digest: string; name: string; namespace: string }>(
          manager,
          `DELETE FROM "${SCHEMA}"."manifests" m USING "${SCHEMA}"."repositories" r
            WHERE r.id = m.repository_id
              AND m.created_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (SELECT 1 FROM "${SCHEMA}"."tags" t WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest)
              AND NOT EXISTS (SELECT 1 FROM "${SCHEMA}"."manifests" parent WHERE parent.repository_id = m.repository_id AND m.digest = ANY(parent.manifest_refs))
              AND NOT (m.subject_digest IS NOT NULL AND EXISTS (
                SELECT 1 FROM "${SCHEMA}"."manifests" subject WHERE subject.repository_id = m.repository_id AND subject.digest = m.subject_digest))
            RETURNING m.repository_id, m.digest, r.name, r.namespace`,
          [graceSeconds],
        );
        for (const row of rows) {
          await enqueueEvent(manager, 'evt.image.deleted.v1', {
            tenantName: row.namespace,
            repository: row.name,
            digest: row.digest,
            reason: 'garbage_collected',
            deletedAt: new Date().toISOString(),
          });
        }
        return rows.length;
      });
      report.manifestsDeleted += deleted;
      if (deleted === 0) break;
    }

    const unreferenced = await queryRows<{ repository_id: string; digest: string; namespace: string }>(
      dataSource.manager,
      `SELECT rb.repository_id, rb.digest, rb.namespace FROM "${SCHEMA}"."repository_blobs" rb
        WHERE rb.created_at < now() - make_interval(secs => $1)
          AND NOT EXISTS (SELECT 1 FROM "${SCHEMA}"."manifests" m
                           WHERE m.repository_id = rb.repository_id AND (m.digest = rb.digest OR rb.digest = ANY(m.blob_refs)))`,
      [graceSeconds],
    );
    for (const link of unreferenced) {
      const removed = await inTransaction(dataSource, async (manager) => {
        // Re-checked under the usage lock: a manifest may have arrived since the scan.
        const stillUnreferenced = await queryRows(
          manager,
          `SELECT 1 FROM "${SCHEMA}"."manifests" m WHERE m.repository_id = $1 AND (m.digest = $2 OR $2 = ANY(m.blob_refs)) LIMIT 1`,
          [link.repository_id, link.digest],
        );
        if (stillUnreferenced.length > 0) return false;
        return unlinkBlob(manager, { id: link.repository_id, namespace: link.namespace }, link.digest, settings.defaultQuotaBytes);
      });
      if (removed) {
        report.linksDeleted += 1;
        touched.add(link.namespace);
      }
    }

    const orphans = await queryRows<{ digest: string }>(
      dataSource.manager,
      `SELECT digest FROM "${SCHEMA}"."blobs" b
        WHERE b.last_linked_at < now() - make_interval(secs => $1)
          AND NOT EXISTS (SELECT 1 FROM "${SCHEMA}"."repository_blobs" rb WHERE rb.digest = b.digest)`,
      [graceSeconds],
    );
    for (const orphan of orphans) {
      let size: number | null = null;
      try {
        size = await inTransaction(dataSource, async (manager) => {
          await lockDigest(manager, orphan.digest);
          const [row] = await queryRows<{ size: string }>(
            manager,
            `DELETE FROM "${SCHEMA}"."blobs" b WHERE digest = $1 AND last_linked_at < now() - make_interval(secs => $2)
               AND NOT EXISTS (SELECT 1 FROM "${SCHEMA}"."repository_blobs" rb WHERE rb.digest = b.digest) RETURNING size`,
            [orphan.digest, graceSeconds],
          );
          // Bytes go while the digest lock is held, so no push can link them in between.
          if (row) await store.delete(orphan.digest);
          return row ? Number(row.size) : null;
        });
      } catch (error) {
        if (!hasSqlState(error, FOREIGN_KEY_VIOLATION)) throw error; // linked again meanwhile: keep it
      }
      if (size === null) continue;
      report.blobsDeleted += 1;
      report.bytesFreed += size;
    }

    const expired = await queryRows<{ id: string }>(
      dataSource.manager,
      `DELETE FROM "${SCHEMA}"."uploads" WHERE updated_at < now() - make_interval(secs => $1) RETURNING id`,
      [settings.uploadTtlSeconds],
    );
    for (const upload of expired) await store.deleteUpload(upload.id);
    report.uploadsExpired = expired.length;

    if (report.manifestsDeleted > 0) this.context.relay.kick();
    for (const namespace of touched) this.context.storageChanged?.(namespace);
    this.context.logger.info({ ...report, graceSeconds }, 'garbage collection finished');
    return report;
  }
}
