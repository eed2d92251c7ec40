import { randomUUID } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import { queryRows, inTransaction, SCHEMA } from '../database/sql';
import { parseDigest } from '../distribution/digest';
import { parseRepositoryName, type RepositoryName } from '../distribution/names';
import { OciError } from '../distribution/oci-error';
import { parseUploadContentRange, uploadRangeHeader } from '../distribution/ranges';
import { discardIfUntracked, findRepositoryLockingDigest, linkBlob } from '../quota/storage-accounting';
import { UploadReservations } from '../quota/upload-reservations';
import { ensureRepository, findRepository, isBlobLinked } from '../repositories/repository.store';
import type { RegistryContext } from '../common/registry-context';

export interface UploadSession {
  id: string;
  name: string;
  offset: number;
}

export type UploadOutcome = { kind: 'session'; session: UploadSession } | { kind: 'blob'; digest: string };

/** The body of a request that carries blob bytes. */
export interface UploadBody {
  stream: Readable;
  contentLength: number | null;
  contentRange: string | null;
}

/**
 * Upload sessions (POST, PATCH, PUT, GET, DELETE on `/blobs/uploads/`). Bytes are staged in
 * the blob store and the offset recorded in PostgreSQL, so a session survives a restart.
 * Requests on one session are serialised in this process; a client that sends two PATCHes
 * at once gets them applied one after the other, and the second is checked against the
 * offset the first left.
 */
export class Uploads {
  private readonly busy = new Map<string, Promise<unknown>>();
  private readonly reservations: UploadReservations;

  constructor(private readonly context: RegistryContext) {
    this.reservations = new UploadReservations(context);
  }

  /** POST: a new session; with `digest`, the body is the whole blob (monolithic). */
  async start(command: { name: RepositoryName; digest?: string; body?: UploadBody }): Promise<UploadOutcome> {
    const digest = command.digest !== undefined ? parseDigest(command.digest) : undefined;
    const id = randomUUID();
    await this.context.store.createUpload(id);
    await queryRows(this.context.dataSource.manager, `INSERT INTO "${SCHEMA}"."uploads" (id, repository_name, namespace) VALUES ($1, $2, $3)`, [
      id,
      command.name.full,
      command.name.namespace,
    ]);
    if (!digest) return { kind: 'session', session: { id, name: command.name.full, offset: 0 } };
    return this.complete({ name: command.name, uploadId: id, digest: digest.value, ...(command.body ? { body: command.body } : {}) });
  }

  /**
   * POST with `mount` and `from`: links a blob of another repository without copying it.
   * Only when the caller may pull the source (`mayPullSource`) and the blob is linked
   * there; otherwise the spec's fallback, a fresh upload session.
   */
  async mount(command: { name: RepositoryName; digest: string; from: string; mayPullSource: boolean }): Promise<UploadOutcome> {
    const digest = parseDigest(command.digest).value;
    let sourceOk = false;
    try {
      parseRepositoryName(command.from);
      sourceOk = command.mayPullSource;
    } catch {
      sourceOk = false;
    }
    if (sourceOk) {
      const mounted = await inTransaction(this.context.dataSource, async (manager) => {
        const source = await findRepository(manager, command.from);
        const size = source ? await isBlobLinked(manager, source.id, digest) : null;
        if (size === null || (await this.context.store.stat(digest)) === null) return false;
        const target = await ensureRepository(manager, command.name);
        await linkBlob(manager, this.context.store, target, digest, size, this.context.settings.defaultQuotaBytes, { uploadTtlSeconds: this.context.settings.uploadTtlSeconds });
        return true;
      });
      if (mounted) return { kind: 'blob', digest };
    }
    return this.start({ name: command.name });
  }

  /** PATCH: appends a chunk; with Content-Range it must start exactly at the current offset. */
  patch(command: { name: RepositoryName; uploadId: string; body: UploadBody }): Promise<UploadSession> {
    return this.exclusive(command.uploadId, async () => {
      const session = await this.load(command.name, command.uploadId);
      await this.append(session, command.body);
      return session;
    });
  }

  /** PUT: the last chunk (optional) and the digest; verifies and makes the blob readable here. */
  complete(command: { name: RepositoryName; uploadId: string; digest: string; body?: UploadBody }): Promise<UploadOutcome> {
    return this.exclusive(command.uploadId, async () => {
      const digest = parseDigest(command.digest);
      const session = await this.load(command.name, command.uploadId);
      // The session ends with this request either way (blob, or discarded), so its offset is not recorded.
      if (command.body) await this.append(session, command.body, false);
      const committed = await this.context.store.commitUpload(session.id, digest);
      if (!committed) {
        await this.discard(session.id);
        throw new OciError('DIGEST_INVALID', 'uploaded content does not match the digest', { digest: digest.value });
      }
      try {
        await inTransaction(this.context.dataSource, async (manager) => {
          // The session's row goes in the statement that finds the repository and takes the
          // digest lock (one round trip for the three; the delete runs whether or not the
          // repository exists yet), in this transaction as before: a failed link keeps it until
          // the cleanup below.
          const locked = await findRepositoryLockingDigest(manager, command.name.full, digest.value, {
            with: `"finished" AS (DELETE FROM "${SCHEMA}"."uploads" WHERE id = $3)`,
            params: [session.id],
          });
          const repository = locked ?? (await ensureRepository(manager, command.name));
          await linkBlob(manager, this.context.store, repository, digest.value, committed.size, this.context.settings.defaultQuotaBytes, {
            digestLocked: locked !== null,
            uploadTtlSeconds: this.context.settings.uploadTtlSeconds,
          });
        });
      } catch (error) {
        // Nothing was linked or counted; bytes no other repository has are dropped too.
        await queryRows(this.context.dataSource.manager, `DELETE FROM "${SCHEMA}"."uploads" WHERE id = $1`, [session.id]);
        await discardIfUntracked(this.context.dataSource, this.context.store, digest.value);
        throw error;
      }
      return { kind: 'blob', digest: digest.value };
    });
  }

  /** GET: where the session stands. */
  async status(command: { name: RepositoryName; uploadId: string }): Promise<UploadSession> {
    return this.load(command.name, command.uploadId);
  }

  /** DELETE: cancels the session and drops its bytes. */
  async cancel(command: { name: RepositoryName; uploadId: string }): Promise<void> {
    await this.exclusive(command.uploadId, async () => {
      await this.load(command.name, command.uploadId);
      await this.discard(command.uploadId);
    });
  }

  private async append(session: UploadSession, body: UploadBody, recordOffset = true): Promise<void> {
    let limit: number | undefined;
    if (body.contentRange !== null) {
      const span = parseUploadContentRange(body.contentRange);
      if (!span) throw new OciError('BLOB_UPLOAD_INVALID', 'malformed Content-Range', { contentRange: body.contentRange });
      if (span.start !== session.offset) {
        throw new OciError('BLOB_UPLOAD_INVALID', `chunk starts at ${span.start} but the upload is at ${session.offset}`, { offset: session.offset }, 416, {
          Range: uploadRangeHeader(session.offset),
          Location: uploadLocation(session),
          'Docker-Upload-UUID': session.id,
        });
      }
      limit = span.end - span.start + 1;
      if (body.contentLength !== null && body.contentLength !== limit) {
        throw new OciError('SIZE_INVALID', 'Content-Length does not match Content-Range', { contentLength: body.contentLength, contentRange: body.contentRange });
      }
    } else if (body.contentLength !== null) {
      limit = body.contentLength;
    }
    // Every byte is reserved against the tenant's storage quota before it is accepted.
    // The last chunk of a PUT is not reserved: its bytes end with the request, as a blob whose
    // link is checked against the quota including every open session, or discarded.
    const gated = recordOffset ? pipeline(body.stream, await this.reservations.gate({ id: session.id, namespace: namespaceOf(session.name) }, limit), () => undefined) : body.stream;
    let written: number;
    try {
      written = await this.context.store.appendUpload(session.id, gated, session.offset, limit);
    } catch (error) {
      await this.releaseReservation(session.id);
      if (error instanceof OciError) throw error;
      throw new OciError('BLOB_UPLOAD_INVALID', 'the chunk could not be received', { reason: error instanceof Error ? error.message : String(error) });
    }
    if (limit !== undefined && written !== limit) {
      // A truncated chunk is not kept: the session stays at the offset before it.
      await this.context.store.appendUpload(session.id, emptyStream(), session.offset);
      await this.releaseReservation(session.id);
      throw new OciError('BLOB_UPLOAD_INVALID', `expected ${limit} bytes, received ${written}`, { expected: limit, received: written });
    }
    session.offset += written;
    if (!recordOffset) return;
    await queryRows(this.context.dataSource.manager, `UPDATE "${SCHEMA}"."uploads" SET "offset" = $2, reserved_bytes = 0, updated_at = now() WHERE id = $1`, [
      session.id,
      session.offset,
    ]);
  }

  /** The chunk ended without its bytes: what it reserved is given back (its written bytes were cut off). */
  private async releaseReservation(uploadId: string): Promise<void> {
    await queryRows(this.context.dataSource.manager, `UPDATE "${SCHEMA}"."uploads" SET reserved_bytes = 0 WHERE id = $1`, [uploadId]);
  }

  private async load(name: RepositoryName, uploadId: string): Promise<UploadSession> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uploadId)) {
      throw new OciError('BLOB_UPLOAD_UNKNOWN', 'upload unknown', { uploadId });
    }
    const [row] = await queryRows<{ id: string; repository_name: string; offset: string }>(
      this.context.dataSource.manager,
      `SELECT id, repository_name, "offset" FROM "${SCHEMA}"."uploads"
        WHERE id = $1 AND updated_at > now() - make_interval(secs => $2)`,
      [uploadId, this.context.settings.uploadTtlSeconds],
    );
    if (!row || row.repository_name !== name.full) throw new OciError('BLOB_UPLOAD_UNKNOWN', 'upload unknown or expired', { uploadId });
    return { id: row.id, name: row.repository_name, offset: Number(row.offset) };
  }

  private async discard(uploadId: string): Promise<void> {
    await queryRows(this.context.dataSource.manager, `DELETE FROM "${SCHEMA}"."uploads" WHERE id = $1`, [uploadId]);
    await this.context.store.deleteUpload(uploadId);
  }

  private async exclusive<T>(uploadId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.busy.get(uploadId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.busy.set(uploadId, next);
    try {
      return await next;
    } finally {
      if (this.busy.get(uploadId) === next) this.busy.delete(uploadId);
    }
  }
}

export function uploadLocation(session: { id: string; name: string }): string {
  return `/v2/${session.name}/blobs/uploads/${session.id}`;
}

function namespaceOf(repository: string): string {
  return repository.slice(0, repository.indexOf('/'));
}

function emptyStream(): Readable {
  return Readable.from([]);
}
