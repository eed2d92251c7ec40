import { Batcher } from './create-batcher';

interface Item {
  id: number;
  key: string | null;
}

function recordingBatcher(maxBatch: number, hold?: (batch: number[]) => Promise<void>) {
  const batches: number[][] = [];
  const written: number[][] = [];
  const batcher = new Batcher<Item, number[]>(
    async (batch) => {
      const ids = batch.map((item) => item.id);
      batches.push(ids);
      return ids;
    },
    async (ids) => {
      await hold?.(ids);
      written.push(ids);
    },
    maxBatch,
    (item) => item.key,
    (error) => {
      throw error;
    },
  );
  return { batches, written, batcher };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it('starts a lone item at once, without a timer', async () => {
    const { batches, batcher } = recordingBatcher(8);
    batcher.add({ id: 1, key: null });
    await settle();
    expect(batches).toEqual([[1]]);
  });

  it('puts what arrives in the same turn into one batch, at most maxBatch, in arrival order', async () => {
    const { batches, batcher } = recordingBatcher(3);
    for (let id = 1; id <= 7; id += 1) batcher.add({ id, key: null });
    for (let i = 0; i < 5; i += 1) await settle();
    expect(batches).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('collects what arrives while a batch is written into the next one, prepared meanwhile, written after', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { batches, written, batcher } = recordingBatcher(10, (ids) => (ids[0] === 1 ? gate : Promise.resolve()));
    batcher.add({ id: 1, key: null });
    await settle();
    for (let id = 2; id <= 5; id += 1) batcher.add({ id, key: null });
    for (let i = 0; i < 3; i += 1) await settle();
    // The next batch is prepared while the first is still being written, but not written before it.
    expect(batches).toEqual([[1], [2, 3, 4, 5]]);
    expect(written).toEqual([]);
    batcher.add({ id: 6, key: null });
    release();
    for (let i = 0; i < 5; i += 1) await settle();
    expect(written).toEqual([[1], [2, 3, 4, 5], [6]]);
  });

  it('never puts two items with the same key in one batch; the later waits for the next, retries go first', async () => {
    const { batches, batcher } = recordingBatcher(10);
    batcher.add({ id: 1, key: 'k' });
    batcher.add({ id: 2, key: 'other' });
    batcher.add({ id: 3, key: 'k' });
    batcher.add({ id: 4, key: null });
    batcher.add({ id: 5, key: null });
    for (let i = 0; i < 3; i += 1) await settle();
    expect(batches).toEqual([[1, 2, 4, 5], [3]]);
    batcher.add({ id: 6, key: null });
    batcher.retry([{ id: 7, key: null }]);
    for (let i = 0; i < 3; i += 1) await settle();
    expect(batches.slice(2)).toEqual([[7, 6]]);
  });
});
