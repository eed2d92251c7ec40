import type { Writable } from 'node:stream';
import { parseDigest } from '../distribution/digest';
import type { RepositoryName } from '../distribution/names';
import { OciError } from '../distribution/oci-error';
import { parseBlobRange, type ByteSpan } from '../distribution/ranges';
import { linkedBlobSize } from '../repositories/repository.store';
import type { RegistryContext } from '../common/registry-context';

export interface BlobRead {
  digest: string;
  size: number;
  /** null: the whole blob. */
  span: ByteSpan | null;
  /** Writes the bytes (the span, or all) into `destination`, which it does not end. */
  writeTo(destination: Writable): Promise<void>;
}

/** GET/HEAD of a blob: only blobs linked into the repository exist there. */
export class ReadBlob {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: { name: RepositoryName; digest: string; range?: string }): Promise<BlobRead> {
    const digest = parseDigest(command.digest).value;
    const size = await linkedBlobSize(this.context.dataSource.manager, command.name.full, digest);
    if (size === null) throw new OciError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    const range = parseBlobRange(command.range, size);
    if (range.kind === 'unsatisfiable') {
      throw new OciError('BLOB_UNKNOWN', 'requested range not satisfiable', { digest, size }, 416, { 'Content-Range': `bytes */${size}` });
    }
    const span = range.kind === 'partial' ? range.span : null;
    const store = this.context.store;
    return { digest, size, span, writeTo: (destination) => store.writeTo(digest, destination, span ?? undefined) };
  }
}
