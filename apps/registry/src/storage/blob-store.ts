import type { Readable, Writable } from 'node:stream';
import type { DigestAlgorithm } from '../distribution/digest';

/**
 * Where blob bytes live. Content-addressed and shared by every repository (dedupe); the
 * database decides who may read what. Uploads are staged under their session id and become
 * a blob only after their digest was verified. Implementations: a filesystem (here); an
 * object store would implement the same interface.
 */
export interface BlobStore {
  /** Size in bytes, or null when the blob is not stored. */
  stat(digest: string): Promise<number | null>;
  /** Streams `[start, end]` (inclusive) or the whole blob. */
  read(digest: string, span?: { start: number; end: number }): Readable;
  /**
   * Writes `[start, end]` (inclusive) or the whole blob into `destination` (which it does
   * not end) and resolves once `destination` has taken every byte: the serving path, where
   * an implementation may do better than `read()` piped (e.g. reuse its buffers). So
   * `destination` must be done with a chunk when it calls back for it (a socket, an HTTP
   * response, a file are; a sink that keeps chunks must copy them).
   */
  writeTo(digest: string, destination: Writable, span?: { start: number; end: number }): Promise<void>;
  readAll(digest: string): Promise<Buffer>;
  /** Stores small content whose digest the caller computed (manifests). */
  put(digest: string, bytes: Buffer): Promise<void>;
  delete(digest: string): Promise<void>;

  createUpload(uploadId: string): Promise<void>;
  /** Appends the stream to the upload; returns the bytes written. On failure nothing is appended. */
  appendUpload(uploadId: string, source: Readable, fromOffset: number, limit?: number): Promise<number>;
  /**
   * Hashes the staged upload (or uses the hash computed while it was appended); when it matches `expected`, moves it into
   * the store (a blob that already exists is replaced by the same bytes). Returns the size,
   * or null on a digest mismatch (the upload is kept for the caller to discard).
   */
  commitUpload(uploadId: string, expected: { algorithm: DigestAlgorithm; value: string }): Promise<{ size: number } | null>;
  deleteUpload(uploadId: string): Promise<void>;
}
