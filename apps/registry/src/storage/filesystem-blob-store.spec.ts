import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { FilesystemBlobStore } from './filesystem-blob-store';

const sha256 = (bytes: Buffer) => ({ algorithm: 'sha256' as const, value: `sha256:${createHash('sha256').update(bytes).digest('hex')}` });

describe('FilesystemBlobStore uploads', () => {
  let root: string;
  let store: FilesystemBlobStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'gureum-blob-store-'));
    store = new FilesystemBlobStore(root);
    await store.init();
  });

  afterEach(() => rm(root, { recursive: true, force: true }));

  it('keeps blobs, uploads and their directories private to the registry user (0600 / 0700)', async () => {
    const mode = async (path: string) => (await stat(path)).mode & 0o777;
    // A store an older version created with 0755 is tightened at init.
    await chmod(root, 0o755);
    await chmod(join(root, 'blobs'), 0o755);
    await store.init();
    const bytes = randomBytes(1000);
    const id = randomUUID();
    await store.createUpload(id);
    await store.appendUpload(id, Readable.from([bytes.subarray(0, 10)]), 0);
    expect(await mode(join(root, 'uploads', id))).toBe(0o600);
    await store.appendUpload(id, Readable.from([bytes.subarray(10)]), 10);
    await store.commitUpload(id, sha256(bytes));
    const manifest = Buffer.from('{"schemaVersion":2}');
    await store.put(sha256(manifest).value, manifest);
    const hex = (digest: string) => digest.slice('sha256:'.length);
    for (const digest of [sha256(bytes).value, sha256(manifest).value]) {
      expect(await mode(join(root, 'blobs', 'sha256', hex(digest).slice(0, 2), hex(digest)))).toBe(0o600);
      expect(await mode(join(root, 'blobs', 'sha256', hex(digest).slice(0, 2)))).toBe(0o700);
    }
    for (const dir of ['', 'blobs', 'uploads', join('blobs', 'sha256')]) expect(await mode(join(root, dir))).toBe(0o700);
  });

  it('commits in-order chunks with the digest computed while they were written', async () => {
    const bytes = randomBytes(300_000);
    const id = randomUUID();
    await store.createUpload(id);
    expect(await store.appendUpload(id, Readable.from([bytes.subarray(0, 100_000)]), 0)).toBe(100_000);
    expect(await store.appendUpload(id, Readable.from([bytes.subarray(100_000)]), 100_000)).toBe(200_000);
    expect(await store.commitUpload(id, sha256(bytes))).toEqual({ size: bytes.length });
    expect((await store.readAll(sha256(bytes).value)).equals(bytes)).toBe(true);
  });

  it('still verifies correctly when a chunk is re-sent from an earlier offset (running hash dropped)', async () => {
    const bytes = randomBytes(50_000);
    const id = randomUUID();
    await store.createUpload(id);
    await store.appendUpload(id, Readable.from([randomBytes(20_000)]), 0);
    // The client retries from 0 with the real content: the file is overwritten from there.
    await store.appendUpload(id, Readable.from([bytes]), 0);
    expect(await store.commitUpload(id, sha256(bytes))).toEqual({ size: bytes.length });
  });

  it('drops the running hash of a failed chunk and refuses content that does not match', async () => {
    const bytes = randomBytes(10_000);
    const id = randomUUID();
    await store.createUpload(id);
    await expect(store.appendUpload(id, Readable.from([bytes]), 0, 5_000)).rejects.toThrow(/declared length/);
    await store.appendUpload(id, Readable.from([bytes]), 0);
    expect(await store.commitUpload(id, sha256(Buffer.concat([bytes, Buffer.from('x')])))).toBeNull();
    const again = randomUUID();
    await store.createUpload(again);
    await store.appendUpload(again, Readable.from([bytes]), 0);
    expect(await store.commitUpload(again, sha256(bytes))).toEqual({ size: bytes.length });
  });
  it('touches no file when a session starts, and commits a session no bytes were appended to as the empty blob', async () => {
    const id = randomUUID();
    await store.createUpload(id);
    expect(await readdir(join(root, 'uploads'))).toEqual([]);
    expect(await store.commitUpload(id, sha256(Buffer.alloc(0)))).toEqual({ size: 0 });
    expect(await store.readAll(sha256(Buffer.alloc(0)).value)).toEqual(Buffer.alloc(0));
  });

  it('commits content the store has already (the same bytes), leaving no upload behind', async () => {
    const bytes = randomBytes(5_000);
    for (const id of [randomUUID(), randomUUID()]) {
      await store.createUpload(id);
      await store.appendUpload(id, Readable.from([bytes]), 0);
      expect(await store.commitUpload(id, sha256(bytes))).toEqual({ size: bytes.length });
    }
    await store.put(sha256(bytes).value, bytes);
    expect((await store.readAll(sha256(bytes).value)).equals(bytes)).toBe(true);
    expect(await readdir(join(root, 'uploads'))).toEqual([]);
  });
});

describe('FilesystemBlobStore.writeTo', () => {
  let root: string;
  let store: FilesystemBlobStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'gureum-blob-store-'));
    store = new FilesystemBlobStore(root);
    await store.init();
  });

  afterEach(() => rm(root, { recursive: true, force: true }));

  async function stored(bytes: Buffer): Promise<string> {
    const id = randomUUID();
    await store.createUpload(id);
    await store.appendUpload(id, Readable.from([bytes]), 0);
    const digest = sha256(bytes);
    await store.commitUpload(id, digest);
    return digest.value;
  }

  /** Like a socket: it takes a chunk's bytes later, when it calls back, and not after. */
  function sink(): { writable: Writable; received: () => Buffer } {
    const chunks: Buffer[] = [];
    const writable = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, callback) {
        setImmediate(() => {
          chunks.push(Buffer.from(chunk));
          callback();
        });
      },
    });
    return { writable, received: () => Buffer.concat(chunks) };
  }

  it('writes whole blobs and spans, small and over many reused buffers, also several at once', async () => {
    const large = randomBytes(3 * 1024 * 1024 + 12_345);
    const other = randomBytes(2 * 1024 * 1024 + 7);
    const small = randomBytes(300);
    const [largeDigest, otherDigest, smallDigest] = await Promise.all([stored(large), stored(other), stored(small)]);
    const cases: Array<{ digest: string; bytes: Buffer; span?: { start: number; end: number } }> = [
      { digest: largeDigest, bytes: large },
      { digest: otherDigest, bytes: other },
      { digest: smallDigest, bytes: small },
      { digest: largeDigest, bytes: large, span: { start: 1024 * 1024 - 3, end: 2 * 1024 * 1024 + 5 } },
      { digest: smallDigest, bytes: small, span: { start: 10, end: 10 } },
      { digest: largeDigest, bytes: large },
    ];
    // Twice: the second pass runs on buffers the first gave back.
    for (let pass = 0; pass < 2; pass += 1) {
      await Promise.all(
        cases.map(async ({ digest, bytes, span }) => {
          const { writable, received } = sink();
          await store.writeTo(digest, writable, span);
          expect(received().equals(span ? bytes.subarray(span.start, span.end + 1) : bytes)).toBe(true);
        }),
      );
    }
  });

  it('fails when the destination goes away mid-blob, and when the blob is missing', async () => {
    const digest = await stored(randomBytes(4 * 1024 * 1024));
    let writes = 0;
    const writable = new Writable({
      write(_chunk, _encoding, callback) {
        writes += 1;
        if (writes === 2) writable.destroy();
        else callback();
      },
    });
    await expect(store.writeTo(digest, writable)).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    await expect(store.writeTo(sha256(Buffer.from('absent')).value, sink().writable)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
