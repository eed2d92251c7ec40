/**
 * The most creates one transaction writes (group commit). Batches form naturally from what
 * arrives while the previous one is written, so this only bounds a burst.
 */
export const MAX_CREATE_BATCH = 128;

/**
 * Default of `GUREUM_CREATE_BATCH_GATHER_MS`: how long after a batch's end the next one may
 * wait for more creates. It bounds the wait for the callers the previous batch answered, so it must
 * cover their turnaround: 64 callers in one client process took ~4-5 ms to send their next
 * creates in bench:scheduler, and at 4 ms the wait often ended just before they came.
 */
export const DEFAULT_CREATE_BATCH_GATHER_MS = 8;

/**
 * Natural batching: items queue while a batch is being processed and form the next batch
 * (up to `maxBatch`); an item that arrives while nothing runs, long after the last batch,
 * starts a batch at once — after the messages already read from the socket have been queued
 * too (`setImmediate`), never after a timer — so a lone create is not slowed down.
 *
 * Items sharing a `key` never ride in the same batch: the later one waits for the next
 * batch (where it sees the first one's outcome). One batch runs at a time.
 *
 * Gathering (`gatherMs` > 0): a batch that follows another one — it starts within `gatherMs`
 * of the previous one's end, whether items were queued meanwhile or the batcher went idle and
 * new ones arrived — waits until at most `gatherMs` after that end, and stops waiting once the
 * queue holds the items that were already waiting when the previous batch ended plus as many
 * as that batch took (its callers coming back), or `maxBatch`. Callers the previous batch
 * answered come back within a round trip, so the wait mostly ends well before the deadline:
 * it only bounds the wait when fewer come. Without it, one batch in flight splits clients into
 * cohorts that alternate, each waiting a whole batch for the other:
 * - the cohort answered by the last batch is still sending its next requests when the queued
 *   one starts (two cohorts of ~32 at 64 in flight: twice the transactions per create);
 * - after a batch that took everything queued, the batcher is idle, and its callers' next
 *   requests arrive in more than one socket read now and then: the first read started a batch
 *   at once, the rest waited a whole batch (in bench:scheduler, 1 batch in 6 took fewer than 60
 *   of the 64 callers; 11–20 in 400 with this wait).
 *
 * A wait that runs out means the previous batch's callers are not coming back soon: many
 * independent callers (an open load), not a fixed set of them waiting for their answers. Such a
 * wait only adds latency, so after one the next batch does not wait, after a second one in a
 * row the next 2, then 4, … up to `MAX_SKIPPED_GATHERS`; a wait that reaches its goal makes
 * every batch wait again; a queue already at the goal needs no wait and changes neither.
 * (bench:scheduler --rate 1000: p50 28.8–31.8 ms when every batch waited, 24.7–28.3 ms with
 * this; docs/scheduler.md.)
 */
export class Batcher<T> {
  /** The most batches in a row that skip gathering after waits that ran out. */
  static readonly MAX_SKIPPED_GATHERS = 16;

  private queue: T[] = [];
  private scheduled = false;
  private running = false;
  /** Ends the current gathering wait early (the queue reached the gathering goal). */
  private gathered: (() => void) | null = null;
  /** The queue length that ends the current gathering wait. */
  private gatherGoal = 0;
  /** The last batch: when it ended (`performance.now()`), how many it took, how many it left queued. */
  private last: { endedAt: number; size: number; leftQueued: number } | null = null;
  /** Batches still to start without gathering, and how many the next wait that runs out skips. */
  private skipGathers = 0;
  private nextSkip = 1;

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
    if (this.gathered && this.queue.length >= this.gatherGoal) this.gathered();
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
      while (this.queue.length > 0) {
        await this.gatherAfterLast();
        const batch = this.take();
        try {
          await this.process(batch);
        } catch (error) {
          this.onError(error, batch);
        }
        this.last = { endedAt: performance.now(), size: batch.length, leftQueued: this.queue.length };
      }
    } finally {
      this.running = false;
    }
  }

  /** The wait of a batch that follows another: see the class comment. */
  private async gatherAfterLast(): Promise<void> {
    if (this.gatherMs <= 0 || this.last === null) return;
    const remaining = this.last.endedAt + this.gatherMs - performance.now();
    if (remaining <= 0) return;
    this.gatherGoal = Math.min(this.maxBatch, this.last.leftQueued + this.last.size);
    if (this.queue.length >= this.gatherGoal) return;
    if (this.skipGathers > 0) {
      this.skipGathers -= 1;
      return;
    }
    if (await this.gather(remaining)) this.nextSkip = 1;
    else {
      this.skipGathers = this.nextSkip;
      this.nextSkip = Math.min(this.nextSkip * 2, Batcher.MAX_SKIPPED_GATHERS);
    }
  }

  /** Resolves true when the queue reached the gathering goal, false when the time ran out. */
  private gather(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (reached: boolean) => {
        clearTimeout(timer);
        this.gathered = null;
        resolve(reached);
      };
      const timer = setTimeout(() => done(false), ms);
      this.gathered = () => done(true);
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
