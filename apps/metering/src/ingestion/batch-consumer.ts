import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';

const MS_NS = 1_000_000;

export interface BatchConsumerOptions {
  stream: string;
  durable: string;
  filterSubject: string;
  /** Flush when this many messages are buffered… */
  maxBatch: number;
  /** …or this long after the first one arrived. */
  maxWaitMs: number;
  ackWaitMs: number;
}

/** What the handler decided per message; everything it does not term or hold is acked after commit. */
export interface BatchOutcome {
  terminated: ReadonlySet<JsMsg>;
  /** Not decidable yet (e.g. a usage sample whose workload's placement has not arrived): nak'ed for a redelivery after `holdMs`. */
  held?: ReadonlySet<JsMsg>;
  holdMs?: number;
}

/**
 * A durable pull consumer read in batches. The handler commits a batch in one transaction;
 * only then are its messages acked. A handler failure (database down) naks the batch for a
 * later redelivery and the consumer carries on; it never stops the service.
 */
export class BatchConsumer<P = undefined> {
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;
  private buffer: JsMsg[] = [];
  /** `prepare`'s result for each message in `buffer`, same index (an array, not a WeakMap: no ephemerons for the GC to trace per message). */
  private preparedBuffer: P[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** A batch is in the handler; a timer that fires meanwhile waits for it instead of cutting a small batch. */
  private busy = false;
  private flushWhenIdle = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: BatchConsumerOptions,
    /** `prepared[i]` is what `prepare` returned for `batch[i]` (empty without `prepare`). */
    private readonly handle: (batch: JsMsg[], prepared: P[]) => Promise<BatchOutcome>,
    private readonly logger: Logger,
    /** Called once per message as it arrives (e.g. to parse it), while the previous batch may still be in the handler. */
    private readonly prepare?: (message: JsMsg) => P,
  ) {}

  async start(): Promise<void> {
    const { stream, durable, filterSubject, ackWaitMs, maxBatch } = this.options;
    const jsm = await jetstreamManager(this.nc);
    const config = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: filterSubject,
      ack_wait: ackWaitMs * MS_NS,
      max_ack_pending: Math.max(10 * maxBatch, 1000),
    };
    const existing = await jsm.consumers.info(stream, durable).catch(() => null);
    if (existing) await jsm.consumers.update(stream, durable, { ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending });
    else await jsm.consumers.add(stream, config);
    const consumer = await jetstream(this.nc).consumers.get(stream, durable);
    this.messages = await consumer.consume({ max_messages: Math.max(2 * maxBatch, 100) });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const message of messages) {
        if (this.prepare) this.preparedBuffer.push(this.prepare(message));
        this.buffer.push(message);
        if (this.buffer.length >= maxBatch) {
          // Hand the full batch over and fill the next one while it is written; wait only
          // when that one is full too (at most two batches in hand).
          const previous = this.flushing;
          void this.flush();
          await previous;
        }
        else this.timer ??= setTimeout(() => this.onTimer(), this.options.maxWaitMs);
      }
    })().catch((error: unknown) => this.logger.error({ err: error, durable }, 'consumer loop ended'));
  }

  /** Stops pulling, then finishes the batch in hand. */
  async stop(): Promise<void> {
    await this.messages?.close().catch(() => undefined);
    await this.loop;
    await this.flush();
  }

  /**
   * The wait for a fuller batch is over. While the previous batch is still being written,
   * messages keep arriving: they go out together once it is done, so a backlog drains in
   * full batches (rollup writes grow with workloads × meters × hours per batch, not with
   * samples) instead of in a small batch per timer tick.
   */
  private onTimer(): void {
    this.timer = null;
    if (this.busy) this.flushWhenIdle = true;
    else void this.flush();
  }

  private flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.flushWhenIdle = false;
    const batch = this.buffer;
    if (batch.length === 0) return this.flushing;
    const prepared = this.preparedBuffer;
    this.buffer = [];
    this.preparedBuffer = [];
    this.flushing = this.flushing.then(() => this.process(batch, prepared));
    return this.flushing;
  }

  private async process(batch: JsMsg[], prepared: P[]): Promise<void> {
    this.busy = true;
    try {
      await this.handleAndAck(batch, prepared);
    } finally {
      this.busy = false;
      if (this.flushWhenIdle && this.buffer.length > 0) void this.flush();
    }
  }

  private async handleAndAck(batch: JsMsg[], prepared: P[]): Promise<void> {
    let outcome: BatchOutcome;
    try {
      outcome = await this.handle(batch, prepared);
    } catch (error) {
      this.logger.error({ err: error, durable: this.options.durable, messages: batch.length }, 'batch failed; it will be redelivered');
      for (const message of batch) message.nak(1000);
      return;
    }
    for (const message of batch) {
      if (outcome.terminated.has(message)) message.term();
      else if (outcome.held?.has(message)) message.nak(outcome.holdMs ?? 1000);
      else message.ack();
    }
  }
}
