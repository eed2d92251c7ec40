import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { OciError } from '../distribution/oci-error';
import type { RepositoryRow } from '../repositories/repository.store';
import type { BlobStore } from '../storage/blob-store';

/**
 * Serialises linking a digest with garbage collection of the same digest (transaction-scoped
 * advisory lock): GC deletes a blob's row and bytes holding it, so a link made after that
 * sees the bytes gone and fails instead of pointing at nothing.
 */
export async function lockDigest(manager: EntityManager, digest: string): Promise<void> {
  await queryRows(manager, `SELECT ${digestLockCall('$1')}`, [digestLockKey(digest)]);
}

/** The lock `lockDigest` takes, as an SQL call whose key is the parameter `param` bound to `digestLockKey(digest)`. */
export function digestLockCall(param: string): string {
  return `pg_advisory_xact_lock(hashtext(${param}))`;
}

export function digestLockKey(digest: string): string {
  return `gureum.registry.blob.${digest}`;
}

/**
 * `findRepository` and `lockDigest` in one round trip, at the start of a link transaction
 * (every blob and manifest push): the repository, with the digest lock now held — or null
 * and no lock taken when the repository does not exist yet, so that the caller creates it
 * (`ensureRepository`) and then locks, in that order as before: a repository insert never
 * waits while this transaction holds a digest lock. The row comes from the statement's
 * snapshot, taken before any wait for the lock, i.e. it is read where a separate
 * `findRepository` before `lockDigest` read it; so is anything in `extra`.
 *
 * `extra`: more output columns (SQL over the repository row `r`, parameters from $3 on) and
 * `with`: data-modifying CTEs that run in the same statement whether or not the row exists.
 */
export async function findRepositoryLockingDigest<Extra extends object = object>(
  manager: EntityManager,
  name: string,
  digest: string,
  more: { extra?: string; with?: string; params?: readonly unknown[] } = {},
): Promise<(RepositoryRow & Extra) | null> {
  const [row] = await queryRows<RepositoryRow & Extra & { locked: unknown }>(
    manager,
    `${more.with ? `WITH ${more.with} ` : ''}SELECT r.id, r.name, r.namespace, r.public, ${digestLockCall('$2')} AS locked${more.extra ? `, ${more.extra}` : ''}
       FROM "${SCHEMA}"."repositories" r WHERE r.name = $1`,
    [name, digestLockKey(digest), ...(more.params ?? [])],
  );
  if (!row) return null;
  const { locked: _locked, ...repository } = row;
  return repository as RepositoryRow & Extra;
}

/**
 * A tenant's stored bytes are the sizes of the distinct blobs (layers, configs, manifests)
 * linked into any of its repositories: a layer shared by ten of its images counts once, and
 * a layer another tenant also stores counts for both. Every change happens with the
 * tenant's usage row locked, so concurrent pushes cannot overshoot the quota together.
 */

async function lockUsage(
  manager: EntityManager,
  namespace: string,
  defaultQuotaBytes: number,
  /** Also upserts this blob's row in the same round trip (linkBlob; the digest lock is held). */
  blob?: { digest: string; size: number },
): Promise<{ used: number; quota: number }> {
  const upsertBlob = `INSERT INTO "${SCHEMA}"."blobs" (digest, size) VALUES ($2, $3) ON CONFLICT (digest) DO UPDATE SET last_linked_at = now()`;
  const selectSql = `SELECT used_bytes, quota_bytes FROM "${SCHEMA}"."tenant_storage" WHERE namespace = $1 FOR UPDATE`;
  const select = () => queryRows<{ used_bytes: string; quota_bytes: string | null }>(manager, selectSql, [namespace]);
  let [row] = blob
    ? await queryRows<{ used_bytes: string; quota_bytes: string | null }>(manager, `WITH "blob" AS (${upsertBlob}) ${selectSql}`, [namespace, blob.digest, blob.size])
    : await select();
  if (!row) {
    await queryRows(manager, `INSERT INTO "${SCHEMA}"."tenant_storage" (namespace) VALUES ($1) ON CONFLICT (namespace) DO NOTHING`, [namespace]);
    [row] = await select();
  }
  return { used: Number(row?.used_bytes ?? 0), quota: row?.quota_bytes === null || row?.quota_bytes === undefined ? defaultQuotaBytes : Number(row.quota_bytes) };
}

async function namespaceHasBlob(manager: EntityManager, namespace: string, digest: string): Promise<boolean> {
  const rows = await queryRows(manager, `SELECT 1 FROM "${SCHEMA}"."repository_blobs" WHERE namespace = $1 AND digest = $2 LIMIT 1`, [namespace, digest]);
  return rows.length > 0;
}

/**
 * Makes a stored blob readable in a repository, charging the tenant when the blob is new
 * to it. Throws DENIED (and changes nothing) when that would exceed the quota.
 * Returns the tenant's used bytes afterwards.
 *
 * Four round trips (three when the caller took the digest lock with the repository row, in
 * `findRepositoryLockingDigest`): the digest lock; the blob's row upserted together with the tenant's usage
 * row locked; the bytes checked on disk (between those two, outside the database); then one
 * statement that reads the links, decides the charge against the quota and writes link and
 * charge. That last statement starts after the usage row lock is held, so its snapshot sees
 * every link a concurrent push of the same tenant committed before it: the links it reads are
 * the ones the lock serialises (a read in the locking statement itself would not be).
 * A tenant already over its quota (an operator lowered it) gets no new link at all, also of
 * a blob it stores elsewhere (charge 0): `used + charge ≤ quota` must hold either way.
 */
export async function linkBlob(
  manager: EntityManager,
  store: BlobStore,
  repository: RepositoryRow,
  digest: string,
  size: number,
  defaultQuotaBytes: number,
  /**
   * `digestLocked`: the caller holds the digest lock already (`findRepositoryLockingDigest`).
   * `uploadTtlSeconds`: the bytes held by the namespace's live upload sessions (written and
   * reserved, `upload-reservations.ts`) count against the quota too, so stored blobs plus open
   * uploads never exceed it.
   */
  options: { digestLocked?: boolean; uploadTtlSeconds?: number } = {},
): Promise<number> {
  if (!options.digestLocked) await lockDigest(manager, digest);
  if ((await store.stat(digest)) === null) {
    throw new OciError('BLOB_UPLOAD_INVALID', 'the content was garbage-collected while it was being pushed; push it again', { digest }, 409);
  }
  const usage = await lockUsage(manager, repository.namespace, defaultQuotaBytes, { digest, size });
  const [outcome] = await queryRows<{ linked: boolean; in_namespace: boolean; inserted: boolean }>(
    manager,
    `WITH "current" AS (
       SELECT EXISTS (SELECT 1 FROM "${SCHEMA}"."repository_blobs" WHERE repository_id = $1 AND digest = $2) AS linked,
              EXISTS (SELECT 1 FROM "${SCHEMA}"."repository_blobs" WHERE namespace = $3 AND digest = $2) AS in_namespace
     ), "link" AS (
       INSERT INTO "${SCHEMA}"."repository_blobs" (repository_id, digest, namespace)
       SELECT $1, $2, $3 FROM "current" WHERE NOT linked AND (CASE WHEN in_namespace THEN 0 ELSE $4::bigint END) <= $5::bigint - COALESCE((
         SELECT SUM(u."offset" + u.reserved_bytes) FROM "${SCHEMA}"."uploads" u
          WHERE $6::int IS NOT NULL AND u.namespace = $3 AND u.updated_at > now() - make_interval(secs => $6::int)), 0)
       RETURNING namespace
     ), "charge" AS (
       UPDATE "${SCHEMA}"."tenant_storage" SET used_bytes = used_bytes + $4::bigint
        WHERE namespace = (SELECT namespace FROM "link") AND NOT (SELECT in_namespace FROM "current")
     )
     SELECT linked, in_namespace, EXISTS (SELECT 1 FROM "link") AS inserted FROM "current"`,
    [repository.id, digest, repository.namespace, size, usage.quota - usage.used, options.uploadTtlSeconds ?? null],
  );
  if (!outcome) throw new Error('linkBlob: the link statement returned no row');
  if (outcome.linked) return usage.used;
  const charge = outcome.in_namespace ? 0 : size;
  if (!outcome.inserted) {
    throw new OciError('DENIED', `storage quota of tenant ${repository.namespace} exceeded: ${usage.used} of ${usage.quota} bytes used (open uploads hold more), this blob needs ${charge} more`, {
      tenant: repository.namespace,
      usedBytes: usage.used,
      quotaBytes: usage.quota,
      requiredBytes: charge,
    });
  }
  return usage.used + charge;
}

/** Removes a link; the tenant is credited when it no longer stores the blob anywhere. Returns whether a link existed. */
export async function unlinkBlob(manager: EntityManager, repository: { id: string; namespace: string }, digest: string, defaultQuotaBytes: number): Promise<boolean> {
  await lockUsage(manager, repository.namespace, defaultQuotaBytes);
  const removed = await queryRows(manager, `DELETE FROM "${SCHEMA}"."repository_blobs" WHERE repository_id = $1 AND digest = $2 RETURNING digest`, [
    repository.id,
    digest,
  ]);
  if (removed.length === 0) return false;
  if (!(await namespaceHasBlob(manager, repository.namespace, digest))) {
    await queryRows(
      manager,
      `UPDATE "${SCHEMA}"."tenant_storage" SET used_bytes = GREATEST(0, used_bytes - (SELECT size FROM "${SCHEMA}"."blobs" WHERE digest = $2)) WHERE namespace = $1`,
      [repository.namespace, digest],
    );
  }
  return true;
}

export async function readUsage(manager: EntityManager, namespace: string, defaultQuotaBytes: number): Promise<{ usedBytes: number; quotaBytes: number }> {
  const [row] = await queryRows<{ used_bytes: string; quota_bytes: string | null }>(
    manager,
    `SELECT used_bytes, quota_bytes FROM "${SCHEMA}"."tenant_storage" WHERE namespace = $1`,
    [namespace],
  );
  return { usedBytes: Number(row?.used_bytes ?? 0), quotaBytes: row?.quota_bytes == null ? defaultQuotaBytes : Number(row.quota_bytes) };
}

/**
 * After a push failed between storing bytes and recording them (quota, unknown references):
 * bytes no row describes would never be collected, so they go now — unless another push of
 * the same content recorded them meanwhile (checked under the digest lock).
 */
export async function discardIfUntracked(dataSource: DataSource, store: BlobStore, digest: string): Promise<void> {
  await inTransaction(dataSource, async (manager) => {
    await lockDigest(manager, digest);
    const tracked = await queryRows(manager, `SELECT 1 FROM "${SCHEMA}"."blobs" WHERE digest = $1`, [digest]);
    if (tracked.length === 0) await store.delete(digest);
  });
}
