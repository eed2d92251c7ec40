import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import type { RepositoryName } from '../distribution/names';

export interface RepositoryRow {
  id: string;
  name: string;
  namespace: string;
  public: boolean;
}

export async function findRepository(manager: EntityManager, name: string): Promise<RepositoryRow | null> {
  const [row] = await queryRows<RepositoryRow>(manager, `SELECT id, name, namespace, public FROM "${SCHEMA}"."repositories" WHERE name = $1`, [name]);
  return row ?? null;
}

/** Repositories come into being with their first push. */
export async function ensureRepository(manager: EntityManager, name: RepositoryName): Promise<RepositoryRow> {
  // Every blob of a push comes here: one round trip when the repository exists (the usual case).
  const existing = await findRepository(manager, name.full);
  if (existing) return existing;
  await queryRows(manager, `INSERT INTO "${SCHEMA}"."repositories" (id, name, namespace) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`, [
    randomUUID(),
    name.full,
    name.namespace,
  ]);
  const row = await findRepository(manager, name.full);
  if (!row) throw new Error(`repository ${name.full} vanished while being created`);
  return row;
}

export async function publicRepositories(manager: EntityManager, names: readonly string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const rows = await queryRows<{ name: string }>(manager, `SELECT name FROM "${SCHEMA}"."repositories" WHERE name = ANY($1::text[]) AND public`, [names]);
  return new Set(rows.map((row) => row.name));
}

/** Whether `digest` may be served from the repository: only blobs linked there are. */
export async function isBlobLinked(manager: EntityManager, repositoryId: string, digest: string): Promise<number | null> {
  const [row] = await queryRows<{ size: string }>(
    manager,
    `SELECT b.size FROM "${SCHEMA}"."repository_blobs" rb JOIN "${SCHEMA}"."blobs" b ON b.digest = rb.digest WHERE rb.repository_id = $1 AND rb.digest = $2`,
    [repositoryId, digest],
  );
  return row ? Number(row.size) : null;
}

/** Like `isBlobLinked`, by repository name, in one round trip (every blob GET and HEAD asks). */
export async function linkedBlobSize(manager: EntityManager, repositoryName: string, digest: string): Promise<number | null> {
  const [row] = await queryRows<{ size: string }>(
    manager,
    `SELECT b.size FROM "${SCHEMA}"."repositories" r
       JOIN "${SCHEMA}"."repository_blobs" rb ON rb.repository_id = r.id
       JOIN "${SCHEMA}"."blobs" b ON b.digest = rb.digest
      WHERE r.name = $1 AND rb.digest = $2`,
    [repositoryName, digest],
  );
  return row ? Number(row.size) : null;
}
