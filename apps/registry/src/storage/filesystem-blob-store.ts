import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, type FileHandle, mkdir, open, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID, type Hash } from 'node:crypto';
import { digestHasher, tryParseDigest, type DigestAlgorithm } from '../distribution/digest';
import type { BlobStore } from './blob-store';

/** Read and write in 1 MiB steps (Node's defaults are 64 KiB and 16 KiB): fewer syscalls and event-loop turns per layer. */
const STREAM_CHUNK_BYTES = 1024 * 1024;

/** Blob and upload files: tenant data, for the registry's own user only. */
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/** Blobs up to this size are served from one buffer of their own size (one read, one write). */
const SMALL_BLOB_BYTES = 64 * 1024;

/**
 * Buffers of STREAM_CHUNK_BYTES reused by `writeTo`. A read stream allocates a fresh buffer
 * per read; V8 counts those as external memory and, a few hundred MiB into a pull, answers
 * the churn with a mark-compact every ~100 ms (measured: 2 ms of server CPU per MiB served,
 * most of it GC, against 0.5 without the churn). Kept buffers are bounded: two per transfer
 * in flight, at most MAX_POOLED kept.
 */
const MAX_POOLED = 16;
const bufferPool: Buffer[] = [];
function takeBuffer(): Buffer {
  return bufferPool.pop() ?? Buffer.allocUnsafeSlow(STREAM_CHUNK_BYTES);
}
function giveBack(buffer: Buffer): void {
  if (bufferPool.length < MAX_POOLED) bufferPool.push(buffer);
}

/**
 * Blobs under `<root>/blobs/<algorithm>/<first two hex>/<hex>`, uploads under
 * `<root>/uploads/<id>`. A blob appears by an atomic rename on the same filesystem, so a
 * reader never sees a half-written blob.
 */
export class FilesystemBlobStore implements BlobStore {
  /**
   * sha256 of each upload's bytes so far, computed while they were written (in this
   * process), so that committing does not read the whole upload again. Valid only while
   * its `offset` is the upload's length: any other append position, failure or a restart
   * drops it, and the commit falls back to hashing the file.
   */
  private readonly running = new Map<string, { offset: number; hash: Hash }>();

  constructor(private readonly root: string) {}

  async init(): Promise<void> {
    // Tenant data: readable by the registry's user only (issue 20, item 8). `mkdir` with a
    // mode does not change directories that exist already, nor does umask let it widen, so
    // the roots are chmod-ed too (a store created by an older version was 0755).
    for (const dir of [this.root, join(this.root, 'uploads'), join(this.root, 'blobs')]) {
      await mkdir(dir, { recursive: true, mode: DIR_MODE });
      await chmod(dir, DIR_MODE);
    }
  }

  async stat(digest: string): Promise<number | null> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  read(digest: string, span?: { start: number; end: number }): Readable {
    return createReadStream(this.blobPath(digest), { highWaterMark: STREAM_CHUNK_BYTES, ...(span ? { start: span.start, end: span.end } : {}) });
  }

  async writeTo(digest: string, destination: Writable, span?: { start: number; end: number }): Promise<void> {
    const handle = await open(this.blobPath(digest), 'r');
    try {
      let position = span?.start ?? 0;
      const end = span ? span.end + 1 : (await handle.stat()).size;
      if (end - position <= SMALL_BLOB_BYTES) {
        const buffer = Buffer.allocUnsafe(end - position);
        await readExactly(handle, buffer, buffer.length, position);
        await writeChunk(destination, buffer);
        return;
      }
      // Two buffers: the next read fills one while the other is being written. A buffer is
      // refilled only after the write of its previous content completed (the kernel has the
      // bytes). After a failure a write may still hold one: those buffers are not pooled.
      const buffers = [takeBuffer(), takeBuffer()] as const;
      let writing: Promise<void> | null = null;
      for (let turn = 0; position < end; turn += 1) {
        const buffer = buffers[turn % 2] as Buffer;
        const length = Math.min(buffer.length, end - position);
        await readExactly(handle, buffer, length, position);
        position += length;
        if (writing) await writing;
        writing = writeChunk(destination, buffer.subarray(0, length));
      }
      if (writing) await writing;
      giveBack(buffers[0]);
      giveBack(buffers[1]);
    } finally {
      await handle.close();
    }
  }

  readAll(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  async put(digest: string, bytes: Buffer): Promise<void> {
    // Written again when it exists (a manifest is small): cheaper than asking first, which for
    // a new manifest costs a failed stat (an ENOENT error built in JavaScript) on every push.
    const temporary = join(this.root, 'uploads', `put-${randomUUID()}`);
    await writeFile(temporary, bytes, { mode: FILE_MODE });
    await moveInto(temporary, this.blobPath(digest));
  }

  async delete(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  /**
   * The file appears with the first bytes (`appendUpload` at offset 0 creates it) or at the
   * commit: a session's POST does no file I/O, and a monolithic PUT opens the file once.
   */
  async createUpload(uploadId: string): Promise<void> {
    this.uploadPath(uploadId); // throws for an id that is not one
    this.running.set(uploadId, { offset: 0, hash: digestHasher('sha256') });
  }

  async appendUpload(uploadId: string, source: Readable, fromOffset: number, limit?: number): Promise<number> {
    const path = this.uploadPath(uploadId);
    const state = this.running.get(uploadId);
    // Keep hashing only when this chunk continues exactly where the running hash stands.
    const hash = state && state.offset === fromOffset ? state.hash : null;
    this.running.delete(uploadId);
    let written = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        written += chunk.length;
        if (limit !== undefined && written > limit) return callback(new Error('upload exceeds the declared length'));
        hash?.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      // At offset 0 the file is created or emptied (`w`). Further on, `r+` at an explicit
      // position, and bytes past the new end from an earlier failed attempt are cut off.
      const flags = fromOffset === 0 ? 'w' : 'r+';
      await pipeline(source, counter, createWriteStream(path, { flags, mode: FILE_MODE, start: fromOffset, highWaterMark: STREAM_CHUNK_BYTES }));
      if (flags === 'r+') await truncate(path, fromOffset + written);
      if (hash) this.running.set(uploadId, { offset: fromOffset + written, hash });
      return written;
    } catch (error) {
      await truncate(path, fromOffset).catch(() => undefined);
      throw error;
    }
  }

  async commitUpload(uploadId: string, expected: { algorithm: DigestAlgorithm; value: string }): Promise<{ size: number } | null> {
    const path = this.uploadPath(uploadId);
    const state = this.running.get(uploadId);
    this.running.delete(uploadId);
    let size = 0;
    let actual: string;
    const length = await uploadLength(path);
    if (state && expected.algorithm === 'sha256' && length === state.offset) {
      size = length;
      actual = state.hash.digest('hex');
    } else {
      const hash = digestHasher(expected.algorithm);
      await pipeline(createReadStream(path, { highWaterMark: STREAM_CHUNK_BYTES }), async (chunks: AsyncIterable<Buffer>) => {
        for await (const chunk of chunks) {
          hash.update(chunk);
          size += chunk.length;
        }
      });
      actual = hash.digest('hex');
    }
    if (`${expected.algorithm}:${actual}` !== expected.value) return null;
    // A blob that exists already is replaced by the same bytes (its digest was just checked):
    // one rename, where asking first cost a stat that fails (an ENOENT error) for every new blob.
    // A reader of the old file keeps reading it; the database, not the file, says who may.
    await moveInto(path, this.blobPath(expected.value));
    return { size };
  }

  async deleteUpload(uploadId: string): Promise<void> {
    this.running.delete(uploadId);
    await rm(this.uploadPath(uploadId), { force: true });
  }

  private blobPath(digest: string): string {
    const parsed = tryParseDigest(digest);
    if (!parsed) throw new Error(`not a digest: ${digest}`);
    return join(this.root, 'blobs', parsed.algorithm, parsed.hex.slice(0, 2), parsed.hex);
  }

  private uploadPath(uploadId: string): string {
    if (!/^[0-9a-f-]{36}$/.test(uploadId)) throw new Error(`not an upload id: ${uploadId}`);
    return join(this.root, 'uploads', uploadId);
  }
}

/** The upload's length so far; an upload no bytes were appended to has no file yet, and gets an empty one. */
async function uploadLength(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await writeFile(path, Buffer.alloc(0), { flag: 'wx', mode: FILE_MODE });
    return 0;
  }
}

/** Renames `from` to `target`, creating target's directory (one of 256 per algorithm) the first time it is missing. */
async function moveInto(from: string, target: string): Promise<void> {
  try {
    await rename(from, target);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await mkdir(dirname(target), { recursive: true, mode: DIR_MODE });
    await rename(from, target);
  }
}

async function readExactly(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<void> {
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new Error(`blob ended ${length - filled} bytes early`);
    filled += bytesRead;
  }
}

/** Resolves once `destination` has handed `chunk` on (for a socket: to the kernel), so its buffer may be reused. */
function writeChunk(destination: Writable, chunk: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (destination.destroyed) return reject(prematureClose());
    const onClose = () => reject(prematureClose());
    destination.once('close', onClose);
    destination.write(chunk, (error) => {
      destination.off('close', onClose);
      if (error) reject(error);
      else resolve();
    });
  });
}

function prematureClose(): Error {
  return Object.assign(new Error('the destination closed before the blob was written'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}
