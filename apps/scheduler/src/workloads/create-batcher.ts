/**
 * The most creates one transaction writes (group commit). Batches form naturally from what
 * arrives while the previous one is written, so this only bounds a burst.
 */
export const MAX_CREATE_BATCH = 128;

/**
 * Natural batching: items queue while a batch is being processed and form the next batch
 * (up to `maxBatch`); an item that arrives while nothing runs starts a batch at once — after
 * the messages already read from the socket have been queued too (`setImmediate`), never
 * after a timer — so a lone create is not slowed down.
 *
 * Items sharing a `key` never ride in the same batch: the later one waits for the next
 * batch (where it sees the first one's outcome).
 *
 * Two stages, pipelined: while one batch is written (`write`, its transaction), the next one
 * is prepared (`prepare`: reads and decisions in this process), so the process's CPU and the
 * database's work overlap. At most one batch is in each stage, and batches are written in
 * the order they were taken.
 */
export class Batcher<T, P = T[]> {
  private queue: T[] = [];
  private scheduled = false;
  private running = false;
  /** Set while the drain waits for new items (or the write in flight) with nothing to prepare. */
  private wake: (() => void) | null = null;

  constructor(
    private readonly prepare: (batch: T[]) => Promise<P>,
    private readonly write: (prepared: P) => Promise<void>,
    private readonly maxBatch: number,
    /** Items with the same non-null key are kept apart; null: no constraint. */
    private readonly keyOf: (item: T) => string | null,
    private readonly onError: (error: unknown, batch: T[]) => void,
  ) {}

  add(item: T): void {
    this.queue.push(item);
    this.kick();
  }

  /** Back to the head of the queue (retried in the next batch, before newer items). */
  retry(items: readonly T[]): void {
    this.queue.unshift(...items);
    this.kick();
  }

  get size(): number {
    return this.queue.length;
  }

  private kick(): void {
    if (this.scheduled || (this.running && !this.wake)) return;
    this.scheduled = true;
    // After the messages already read have been queued too, so they share the batch.
    setImmediate(() => {
      this.scheduled = false;
      const wake = this.wake;
      this.wake = null;
      if (wake) wake();
      else void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let writing: Promise<void> = Promise.resolve();
    let written = true;
    try {
      for (;;) {
        if (this.queue.length === 0) {
          if (written) break;
          // Nothing to prepare: wait for new items (prepared while the write goes on) or the write's end.
          await Promise.race([writing, new Promise<void>((resolve) => (this.wake = resolve))]);
          this.wake = null;
          continue;
        }
        const batch = this.take();
        let prepared: P;
        try {
          prepared = await this.prepare(batch);
        } catch (error) {
          this.onError(error, batch);
          continue;
        }
        await writing;
        written = false;
        writing = this.write(prepared)
          .catch((error: unknown) => this.onError(error, batch))
          .finally(() => {
            written = true;
          });
      }
    } finally {
      this.running = false;
    }
  }

  private take(): T[] {
    const batch: T[] = [];
    const rest: T[] = [];
    const keys = new Set<string>();
    for (const item of this.queue) {
      const key = this.keyOf(item);
      if (batch.length >= this.maxBatch || (key !== null && keys.has(key))) rest.push(item);
      else {
        batch.push(item);
        if (key !== null) keys.add(key);
      }
    }
    this.queue = rest;
    return batch;
  }
}
