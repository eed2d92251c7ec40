/**
 * The most creates one transaction writes (group commit). Batches form naturally from what
 * arrives while the previous one is written, so this only bounds a burst.
 */
export const MAX_CREATE_BATCH = 128;

/**
 * Default of `GUREUM_CREATE_BATCH_GATHER_MS`: how long a batch that follows another waits for
 * more creates. It bounds the wait for the callers the previous batch answered, so it must
 * cover their turnaround: 64 callers in one client process took ~4-5 ms to send their next
 * creates in bench:scheduler, and at 4 ms the wait often ended just before they came.
 */
export const DEFAULT_CREATE_BATCH_GATHER_MS = 8;

/**
 * Natural batching: items queue while a batch is being processed and form the next batch
 * (up to `maxBatch`); an item that arrives while nothing runs starts a batch at once — after
 * the messages already read from the socket have been queued too (`setImmediate`), never
 * after a timer — so a lone create is not slowed down.
 *
 * Items sharing a `key` never ride in the same batch: the later one waits for the next
 * batch (where it sees the first one's outcome). One batch runs at a time.
 *
 * Gathering (`gatherMs` > 0): a batch that follows another one (items queued meanwhile)
 * waits up to `gatherMs` for more before it starts, and stops waiting once as many are
 * queued as the previous batch took (or `maxBatch`). With one batch in flight, clients
 * otherwise settle into two alternating cohorts (the one answered by the last batch is still
 * sending its next requests when the queued one starts); the wait merges them into one batch,
 * half the transactions per create. Callers the previous batch answered come back within a
 * round trip, so the wait mostly ends well before `gatherMs`: the timer only bounds it when
 * fewer come. A lone item on an idle batcher still starts at once.
 */
export class Batcher<T> {
  private queue: T[] = [];
  private scheduled = false;
  private running = false;
  /** Ends the current gathering wait early (the queue reached the gathering target). */
  private gathered: (() => void) | null = null;
  /** How many the last batch took: a gathering wait ends once as many are queued. */
  private lastBatchSize = 0;

  constructor(
    private readonly process: (batch: T[]) => Promise<void>,
    private readonly maxBatch: number,
    /** Items with the same non-null key are kept apart; null: no constraint. */
    private readonly keyOf: (item: T) => string | null,
    private readonly onError: (error: unknown, batch: T[]) => void,
    private readonly gatherMs = 0,
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
    if (this.gathered && this.queue.length >= this.gatherTarget()) this.gathered();
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      let first = true;
      while (this.queue.length > 0) {
        if (!first && this.gatherMs > 0 && this.queue.length < this.gatherTarget()) await this.gather();
        first = false;
        const batch = this.take();
        this.lastBatchSize = batch.length;
        try {
          await this.process(batch);
        } catch (error) {
          this.onError(error, batch);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private gatherTarget(): number {
    return Math.max(1, Math.min(this.maxBatch, this.lastBatchSize));
  }

  private gather(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.gathered = null;
        resolve();
      };
      const timer = setTimeout(done, this.gatherMs);
      this.gathered = done;
    });
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
