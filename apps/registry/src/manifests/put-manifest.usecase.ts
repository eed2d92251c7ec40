import { outboxRowOf } from '@gureum/messaging';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { digestOf, looksLikeDigest, parseDigest } from '../distribution/digest';
import { MAX_MANIFEST_BYTES, parseManifest, type ParsedManifest } from '../distribution/manifest';
import { isValidTag, type RepositoryName } from '../distribution/names';
import { OciError } from '../distribution/oci-error';
import { discardIfUntracked, findRepositoryLockingDigest, linkBlob } from '../quota/storage-accounting';
import { ensureRepository } from '../repositories/repository.store';
import type { RegistryContext } from '../common/registry-context';

/** PUT of a manifest by tag or digest. */
export class PutManifest {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: { name: RepositoryName; reference: string; contentType: string | undefined; body: Buffer }): Promise<{ digest: string; subject: string | null }> {
    if (command.body.length > MAX_MANIFEST_BYTES) throw manifestTooLarge(command.body.length);
    const byDigest = looksLikeDigest(command.reference);
    let digest: string;
    if (byDigest) {
      const expected = parseDigest(command.reference);
      digest = digestOf(command.body, expected.algorithm);
      if (digest !== expected.value) throw new OciError('DIGEST_INVALID', 'manifest does not match the digest it was pushed by', { digest: expected.value });
    } else {
      if (!isValidTag(command.reference)) throw new OciError('MANIFEST_INVALID', 'invalid tag', { tag: command.reference });
      digest = digestOf(command.body);
    }
    const manifest = parseManifest(command.body, command.contentType);
    await this.context.store.put(digest, command.body);

    const tag = byDigest ? null : command.reference;
    await this.record(command.name, digest, tag, manifest, command.body.length).catch(async (error: unknown) => {
      await discardIfUntracked(this.context.dataSource, this.context.store, digest);
      throw error;
    });
    this.context.relay.kick();
    this.context.storageChanged?.(command.name.namespace);
    this.context.logger.info({ repository: command.name.full, digest, tag }, 'manifest pushed');
    return { digest, subject: manifest.subject };
  }

  private async record(name: RepositoryName, digest: string, tag: string | null, manifest: ParsedManifest, size: number): Promise<void> {
    await inTransaction(this.context.dataSource, async (manager) => {
      // One round trip finds the repository, reads which of the referenced blobs and manifests
      // it has, and takes the manifest's digest lock (see findRepositoryLockingDigest: both
      // reads see what separate statements before the lock saw). A repository that is not
      // there yet is created first and then looked up the same way: create, then lock, as always.
      const lockAndCheck = () =>
        findRepositoryLockingDigest<Present>(manager, name.full, digest, {
          extra: `ARRAY(SELECT rb.digest FROM "${SCHEMA}"."repository_blobs" rb WHERE rb.repository_id = r.id AND rb.digest = ANY($3::text[])) AS present_blobs,
                  ARRAY(SELECT m.digest FROM "${SCHEMA}"."manifests" m WHERE m.repository_id = r.id AND m.digest = ANY($4::text[])) AS present_manifests`,
          params: [manifest.blobs, manifest.manifests],
        });
      let locked = await lockAndCheck();
      if (!locked) {
        await ensureRepository(manager, name);
        locked = await lockAndCheck();
        if (!locked) throw new Error(`repository ${name.full} vanished while being created`);
      }
      const { present_blobs: presentBlobs, present_manifests: presentManifests, ...repository } = locked;
      assertAllPresent(manifest.blobs, presentBlobs, manifest.manifests, presentManifests);
      const usedBytes = await linkBlob(manager, this.context.store, repository, digest, size, this.context.settings.defaultQuotaBytes, {
        digestLocked: true,
        uploadTtlSeconds: this.context.settings.uploadTtlSeconds,
      });
      const event = outboxRowOf('evt.image.pushed.v1', {
        tenantName: repository.namespace,
        repository: repository.name,
        digest,
        mediaType: manifest.mediaType,
        tag,
        size: size,
        tenantUsedBytes: usedBytes,
        pushedAt: new Date().toISOString(),
      });
      // The manifest's row, its tag and its event in one statement: the tag's foreign key is
      // checked at the end of the statement, when the row the CTE inserted (or the one already
      // there) exists; the event is the row enqueueEvent would write, in the same transaction.
      await queryRows(
        manager,
        `WITH "manifest" AS (
           INSERT INTO "${SCHEMA}"."manifests" (repository_id, digest, media_type, size, subject_digest, artifact_type, annotations, blob_refs, manifest_refs)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], $9::text[]) ON CONFLICT (repository_id, digest) DO NOTHING
         ), "event" AS (
           INSERT INTO "${SCHEMA}"."outbox" (message_id, subject, payload) VALUES ($11, $12, $13::jsonb)
         )
         INSERT INTO "${SCHEMA}"."tags" (repository_id, name, manifest_digest) SELECT $1, $10::text, $2 WHERE $10::text IS NOT NULL
           ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = EXCLUDED.manifest_digest, updated_at = now()`,
        [
          repository.id,
          digest,
          manifest.mediaType,
          size,
          manifest.subject,
          manifest.artifactType,
          manifest.annotations === null ? null : JSON.stringify(manifest.annotations),
          manifest.blobs,
          manifest.manifests,
          tag,
          event.messageId,
          event.subject,
          JSON.stringify(event.payload),
        ],
      );
    });
  }
}

/** Which of a manifest's references the repository has (columns of the lock statement). */
interface Present {
  present_blobs: string[];
  present_manifests: string[];
}

function assertAllPresent(blobs: string[], presentBlobs: string[], manifests: string[], presentManifests: string[]): void {
  const haveBlobs = new Set(presentBlobs);
  const missingBlobs = blobs.filter((digest) => !haveBlobs.has(digest));
  if (missingBlobs.length > 0) throw new OciError('MANIFEST_BLOB_UNKNOWN', 'manifest references blobs unknown to this repository', { digests: missingBlobs });
  const haveManifests = new Set(presentManifests);
  const missingManifests = manifests.filter((digest) => !haveManifests.has(digest));
  if (missingManifests.length > 0) throw new OciError('MANIFEST_BLOB_UNKNOWN', 'index references manifests unknown to this repository', { digests: missingManifests });
}

export function manifestTooLarge(size: number): OciError {
  return new OciError('SIZE_INVALID', `manifest exceeds the limit of ${MAX_MANIFEST_BYTES} bytes`, { size, limit: MAX_MANIFEST_BYTES }, 413);
}
