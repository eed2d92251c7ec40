import { BUILD_CONTEXT_CHUNK_BYTES, ErrorCode, GureumError, type BuildLog, type BuildState, type BuildView } from '@gureum/contracts';
import { queryRows } from '@gureum/database';
import type { EntityManager } from 'typeorm';

/** A build's log is kept up to this many characters; the rest is cut (and says so). */
export const MAX_LOG_CHARS = 1024 * 1024;

interface BuildRow {
  id: string;
  tenant_id: string;
  repository: string;
  tag: string;
  image: string;
  state: BuildState;
  host_id: string;
  cpu_millis: number;
  memory_mib: number;
  context_bytes: number;
  digest: string | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

const VIEW_COLUMNS = `"id", "tenant_id", "repository", "tag", "image", "state", "host_id", "cpu_millis", "memory_mib", "context_bytes",
  "digest", "error", "created_at", "updated_at", "finished_at"`;

export function buildNotFound(buildId: string): GureumError {
  return new GureumError(ErrorCode.NotFound, `build ${buildId} not found`, { buildId });
}

export async function insertBuild(
  manager: EntityManager,
  build: { id: string; tenantId: string; repository: string; tag: string; image: string; hostId: string; cpuMillis: number; memoryMiB: number; context: Buffer },
): Promise<BuildView> {
  const [row] = await queryRows<BuildRow>(
    manager,
    `INSERT INTO "api"."builds" ("id", "tenant_id", "repository", "tag", "image", "state", "host_id", "cpu_millis", "memory_mib", "context", "context_bytes")
     VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9, $10) RETURNING ${VIEW_COLUMNS}`,
    [build.id, build.tenantId, build.repository, build.tag, build.image, build.hostId, build.cpuMillis, build.memoryMiB, build.context, build.context.length],
  );
  return toView(row!);
}

/** The tenant's own build; `not_found` for anyone else's. */
export async function findBuild(manager: EntityManager, tenantId: string, buildId: string): Promise<BuildView> {
  const [row] = await queryRows<BuildRow>(manager, `SELECT ${VIEW_COLUMNS} FROM "api"."builds" WHERE "id" = $1 AND "tenant_id" = $2`, [buildId, tenantId]);
  if (!row) throw buildNotFound(buildId);
  return toView(row);
}

export async function findBuildLog(manager: EntityManager, tenantId: string, buildId: string): Promise<BuildLog> {
  const [row] = await queryRows<{ id: string; state: BuildState; log: string; log_truncated: boolean }>(
    manager,
    `SELECT "id", "state", "log", "log_truncated" FROM "api"."builds" WHERE "id" = $1 AND "tenant_id" = $2`,
    [buildId, tenantId],
  );
  if (!row) throw buildNotFound(buildId);
  return { id: row.id, state: row.state, log: row.log, truncated: row.log_truncated };
}

/** One chunk of the context of a build assigned to `hostId` that has not finished. */
export async function readContextChunk(manager: EntityManager, hostId: string, buildId: string, offset: number): Promise<{ data: string; eof: boolean }> {
  const [row] = await queryRows<{ chunk: Buffer | null; context_bytes: number }>(
    manager,
    `SELECT substring("context" FROM $3::int + 1 FOR $4::int) AS "chunk", "context_bytes" FROM "api"."builds"
      WHERE "id" = $1 AND "host_id" = $2 AND "state" IN ('queued', 'building') AND "context" IS NOT NULL`,
    [buildId, hostId, offset, BUILD_CONTEXT_CHUNK_BYTES],
  );
  if (!row || row.chunk === null) throw buildNotFound(buildId);
  return { data: row.chunk.toString('base64'), eof: offset + row.chunk.length >= row.context_bytes };
}

const NEXT: Record<BuildState, readonly BuildState[]> = {
  queued: ['building', 'failed'],
  building: ['building', 'pushing', 'failed'],
  pushing: ['pushing', 'succeeded', 'failed'],
  succeeded: [],
  failed: [],
};

/**
 * Applies an agent's progress report to a build assigned to its node: appends the log (up to
 * MAX_LOG_CHARS), moves the state forward only, and drops the context once the build ended.
 * A report on a finished build changes nothing.
 */
export async function applyBuildReport(
  manager: EntityManager,
  hostId: string,
  report: { buildId: string; state: BuildState; log: string; digest?: string | undefined; error?: string | undefined },
): Promise<boolean> {
  const [row] = await queryRows<{ state: BuildState; log_length: number }>(
    manager,
    `SELECT "state", length("log") AS "log_length" FROM "api"."builds" WHERE "id" = $1 AND "host_id" = $2 FOR UPDATE`,
    [report.buildId, hostId],
  );
  if (!row) throw buildNotFound(report.buildId);
  if (!NEXT[row.state].includes(report.state)) return false;
  if (report.state === 'succeeded' && !report.digest) throw new GureumError(ErrorCode.ValidationFailed, 'a succeeded build report needs the digest');
  const room = Math.max(0, MAX_LOG_CHARS - row.log_length);
  const appended = report.log.slice(0, room);
  const finished = report.state === 'succeeded' || report.state === 'failed';
  await manager.query(
    `UPDATE "api"."builds"
        SET "state" = $2, "log" = "log" || $3, "log_truncated" = "log_truncated" OR $4,
            "digest" = COALESCE($5, "digest"), "error" = COALESCE($6, "error"),
            "context" = CASE WHEN $7 THEN NULL ELSE "context" END,
            "finished_at" = CASE WHEN $7 THEN now() ELSE "finished_at" END, "updated_at" = now()
      WHERE "id" = $1`,
    [report.buildId, report.state, appended, appended.length < report.log.length, report.digest ?? null, report.error ?? null, finished],
  );
  return true;
}

/** Fails builds whose agent went silent (crashed, lost its host); returns their ids. */
export async function failStaleBuilds(manager: EntityManager, staleAfterSeconds: number): Promise<string[]> {
  const rows = await queryRows<{ id: string }>(
    manager,
    `UPDATE "api"."builds"
        SET "state" = 'failed', "error" = 'the build host stopped reporting on the build', "context" = NULL,
            "finished_at" = now(), "updated_at" = now()
      WHERE "state" IN ('queued', 'building', 'pushing') AND "updated_at" < now() - make_interval(secs => $1)
      RETURNING "id"`,
    [staleAfterSeconds],
  );
  return rows.map((row) => row.id);
}

function toView(row: BuildRow): BuildView {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    state: row.state,
    image: row.image,
    repository: row.repository,
    tag: row.tag,
    hostId: row.host_id,
    digest: row.digest,
    error: row.error,
    contextBytes: row.context_bytes,
    resources: { cpuMillis: row.cpu_millis, memoryMiB: row.memory_mib },
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
  };
}
