import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
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
});
