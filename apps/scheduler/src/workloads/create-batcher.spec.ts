import { Batcher } from './create-batcher';

interface Item {
  id: number;
  key: string | null;
}

function recordingBatcher(maxBatch: number, hold?: () => Promise<void>, gatherMs = 0) {
  const batches: number[][] = [];
  const batcher = new Batcher<Item>(
    async (batch) => {
      batches.push(batch.map((item) => item.id));
      await hold?.();
    },
    maxBatch,
    (item) => item.key,
    (error) => {
      throw error;
    },
    gatherMs,
  );
  return { batches, batcher };
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

  it('collects what arrives while a batch runs into the next one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { batches, batcher } = recordingBatcher(10, () => (batches.length === 1 ? gate : Promise.resolve()));
    batcher.add({ id: 1, key: null });
    await settle();
    for (let id = 2; id <= 5; id += 1) batcher.add({ id, key: null });
    await settle();
    expect(batches).toEqual([[1]]);
    release();
    for (let i = 0; i < 3; i += 1) await settle();
    expect(batches).toEqual([[1], [2, 3, 4, 5]]);
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

  describe('gathering', () => {
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['setImmediate'] }));
    afterEach(() => jest.useRealTimers());

    /** A first batch of [1, 2] runs and is held; 3 is queued meanwhile. */
    async function firstBatchHeld(maxBatch = 10) {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const recorded = recordingBatcher(maxBatch, () => (recorded.batches.length === 1 ? gate : Promise.resolve()), 4);
      recorded.batcher.add({ id: 1, key: null });
      recorded.batcher.add({ id: 2, key: null });
      await settle();
      recorded.batcher.add({ id: 3, key: null });
      return { ...recorded, release };
    }

    it('a batch after another waits for the callers the previous one answered on top of those already waiting', async () => {
      const { batches, batcher, release } = await firstBatchHeld();
      release();
      for (let i = 0; i < 3; i += 1) await settle();
      expect(batches).toEqual([[1, 2]]);
      // 3 was waiting; 1 and 2 were answered. The first of them back is not enough: starting
      // now would leave the second behind for a whole batch.
      batcher.add({ id: 4, key: null });
      for (let i = 0; i < 3; i += 1) await settle();
      expect(batches).toEqual([[1, 2]]);
      // Both are back: no need to wait for the timer.
      batcher.add({ id: 5, key: null });
      for (let i = 0; i < 3; i += 1) await settle();
      expect(batches).toEqual([[1, 2], [3, 4, 5]]);
    });

    it('stops waiting after gatherMs when fewer come', async () => {
      const { batches, release } = await firstBatchHeld();
      release();
      for (let i = 0; i < 3; i += 1) await settle();
      jest.advanceTimersByTime(3);
      await settle();
      expect(batches).toEqual([[1, 2]]);
      jest.advanceTimersByTime(1);
      for (let i = 0; i < 3; i += 1) await settle();
      expect(batches).toEqual([[1, 2], [3]]);
    });

    it('does not wait when the queue already holds maxBatch', async () => {
      const { batches, batcher, release } = await firstBatchHeld(3);
      batcher.add({ id: 4, key: null });
      batcher.add({ id: 5, key: null });
      batcher.add({ id: 6, key: null });
      release();
      for (let i = 0; i < 3; i += 1) await settle();
      expect(batches).toEqual([[1, 2], [3, 4, 5]]);
    });

    /** A batch of [1, 2] ran and took everything: the batcher is idle, its two callers on their way back. */
    async function idleAfterBatchOfTwo() {
      const recorded = recordingBatcher(10, undefined, 4);
      recorded.batcher.add({ id: 1, key: null });
      recorded.batcher.add({ id: 2, key: null });
      for (let i = 0; i < 3; i += 1) await settle();
      expect(recorded.batches).toEqual([[1, 2]]);
      return recorded;
    }

    it('a lone item on an idle batcher does not wait', async () => {
      const { batches, batcher } = recordingBatcher(10, undefined, 4);
      batcher.add({ id: 1, key: null });
      await settle();
      expect(batches).toEqual([[1]]);
    });

    it('after a batch that took everything, its callers coming back in two reads ride one batch', async () => {
      const { batches, batcher } = await idleAfterBatchOfTwo();
      // The first caller back does not start a batch of one: the second is on its way.
      batcher.add({ id: 3, key: null });
      for (let i = 0; i < 3; i += 1) await settle();
      expect(batches).toEqual([[1, 2]]);
      batcher.add({ id: 4, key: null });
      for (let i = 0; i < 3; i += 1) await settle();
      expect(batches).toEqual([[1, 2], [3, 4]]);
    });

    it('after a batch that took everything, waits at most gatherMs from its end', async () => {
      const { batches, batcher } = await idleAfterBatchOfTwo();
      jest.advanceTimersByTime(1);
      batcher.add({ id: 3, key: null });
      for (let i = 0; i < 3; i += 1) await settle();
      jest.advanceTimersByTime(2);
      await settle();
      expect(batches).toEqual([[1, 2]]);
      jest.advanceTimersByTime(1);
      for (let i = 0; i < 3; i += 1) await settle();
      expect(batches).toEqual([[1, 2], [3]]);
    });

    it('an item arriving gatherMs or more after the last batch ended starts at once', async () => {
      const { batches, batcher } = await idleAfterBatchOfTwo();
      jest.advanceTimersByTime(4);
      batcher.add({ id: 3, key: null });
      for (let i = 0; i < 3; i += 1) await settle();
      expect(batches).toEqual([[1, 2], [3]]);
    });

    /** Every batch is held until `release()`, which lets it end and the batcher go on. */
    function heldBatches() {
      let held: (() => void) | null = null;
      const recorded = recordingBatcher(10, () => new Promise<void>((resolve) => (held = resolve)), 4);
      const add = (...ids: number[]) => ids.forEach((id) => recorded.batcher.add({ id, key: null }));
      const turns = async () => {
        for (let i = 0; i < 4; i += 1) await settle();
      };
      const release = async () => {
        const end = held!;
        held = null;
        end();
        await turns();
      };
      /** The wait of the batch now gathering runs out. */
      const runOut = async () => {
        jest.advanceTimersByTime(4);
        await turns();
      };
      return { ...recorded, add, turns, release, runOut };
    }

    it('after a wait that ran out the next batch does not wait, after a second one the next two', async () => {
      const { batches, add, turns, release, runOut } = heldBatches();
      add(1, 2);
      await turns();
      add(3);
      await release(); // [1, 2] ends with 3 queued: the next waits for 3 in all
      expect(batches).toEqual([[1, 2]]);
      await runOut(); // ran out (1)
      add(4, 5);
      await release(); // [3] ends with 2 queued of 3: skipped, no wait
      expect(batches).toEqual([[1, 2], [3], [4, 5]]);
      add(6);
      await release(); // 1 queued of 3: waits again
      expect(batches.length).toBe(3);
      await runOut(); // ran out (2): the next two skip
      add(7, 8);
      await release();
      add(9);
      await release();
      expect(batches.slice(3)).toEqual([[6], [7, 8], [9]]);
      add(10);
      await release(); // [9] ends with 1 queued of 2: waits again
      expect(batches.length).toBe(6);
      add(11); // the goal is reached
      await turns();
      expect(batches.slice(6)).toEqual([[10, 11]]);
    });

    it('a wait that reaches its goal makes the next wait that runs out skip one batch again', async () => {
      const { batches, add, turns, release, runOut } = heldBatches();
      add(1, 2);
      await turns();
      add(3);
      await release();
      await runOut(); // ran out (1): skips 1
      add(4, 5);
      await release(); // skipped
      add(6);
      await release();
      await runOut(); // ran out (2): skips 2
      add(7, 8);
      await release(); // skipped (1 of 2 left)
      expect(batches).toEqual([[1, 2], [3], [4, 5], [6], [7, 8]]);
      add(9);
      await release(); // skipped (none left)
      add(10);
      await release(); // waits for 2
      add(11);
      await turns(); // reached: skips start over at 1
      expect(batches.slice(5)).toEqual([[9], [10, 11]]);
      add(12);
      await release(); // waits for 3
      await runOut(); // ran out: skips 1 (not 4)
      add(13, 14);
      await release(); // skipped
      add(15);
      await release(); // waits again
      expect(batches.slice(7)).toEqual([[12], [13, 14]]);
      await runOut();
      expect(batches.slice(9)).toEqual([[15]]);
    });
  });
});
