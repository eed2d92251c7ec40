import { setTimeout as sleep } from 'node:timers/promises';
import { DeliverPolicy, jetstream, jetstreamManager, type Consumer, type ConsumerMessages, type JetStreamManager } from '@nats-io/jetstream';
import { EVENTS_STREAM } from '@gureum/contracts';
import type { NatsConnection } from '@gureum/messaging';

/** One fact from the events stream, as the live feed hands it on. */
export interface FeedMessage {
  subject: string;
  /** The stream sequence: ordered, and what a reconnecting client sends back as Last-Event-ID. */
  seq: number;
  data: Uint8Array;
}

export interface FeedSubscription extends AsyncIterable<FeedMessage> {
  /** Ends the iteration and deletes the server-side consumer (resolves once it is deleted or known gone). Idempotent. */
  stop(): Promise<void>;
}

/** The live events of the platform, per client connection. Behind an interface so the SSE handler can be tested without NATS. */
export abstract class EventFeed {
  /** `afterSeq`: resume after this stream sequence (a reconnect); otherwise only new events. */
  abstract subscribe(subject: string, afterSeq: number | null): Promise<FeedSubscription>;
}

interface OpenConsumer {
  consumer: Consumer;
  messages: ConsumerMessages;
}

export interface JetStreamEventFeedOptions {
  /** Wait between attempts to re-create a consumer while NATS is away. */
  retryMs?: number;
  /** Server-side clean-up of a consumer whose api died without deleting it. */
  inactiveThresholdMs?: number;
}

/**
 * An ordered ephemeral JetStream consumer per subscription, events in stream order.
 *
 * The feed itself remembers where it is — the sequence after the last event it delivered, or
 * the stream's tail when the subscription opened (so "only new events" is a sequence too) —
 * and always creates its consumer *by start sequence*. When the NATS connection comes back
 * after an outage (ephemeral consumers do not survive a server restart), it drops the old
 * consumer and creates a new one from that sequence at once, instead of waiting for the
 * client library to notice missed heartbeats and restart it from `stream_seq 0 + 1` (the
 * whole history) when nothing had been delivered yet. Events at or before the last delivered
 * sequence are never handed on twice. `stop()` deletes the consumer on the server.
 */
export class JetStreamEventFeed extends EventFeed {
  private readonly onReconnect = new Set<() => void>();
  private manager: Promise<JetStreamManager> | null = null;
  private readonly retryMs: number;
  private readonly inactiveThresholdMs: number;

  constructor(
    private readonly nc: NatsConnection,
    options: JetStreamEventFeedOptions = {},
  ) {
    super();
    this.retryMs = options.retryMs ?? 1000;
    this.inactiveThresholdMs = options.inactiveThresholdMs ?? 60_000;
    void this.watch();
  }

  async subscribe(subject: string, afterSeq: number | null): Promise<FeedSubscription> {
    let next = afterSeq !== null ? afterSeq + 1 : (await this.tail()) + 1;
    let current: OpenConsumer | null = await this.open(subject, next);
    let stopped = false;
    const abort = new AbortController();
    const reconnected = () => void current?.messages.close();
    this.onReconnect.add(reconnected);

    const reopen = (startSeq: number) => this.open(subject, startSeq);
    const retryMs = this.retryMs;
    return {
      async *[Symbol.asyncIterator]() {
        try {
          while (!stopped) {
            if (!current) {
              try {
                current = await reopen(next);
              } catch {
                await sleep(retryMs, undefined, { signal: abort.signal }).catch(() => undefined);
                continue;
              }
            }
            const { consumer, messages } = current;
            try {
              for await (const message of messages) {
                if (stopped) break;
                if (message.seq < next) continue;
                next = message.seq + 1;
                yield { subject: message.subject, seq: message.seq, data: message.data };
              }
            } catch {
              // The consumer ended with an error: re-created below from `next`.
            }
            if (current?.consumer === consumer) current = null;
            void consumer.delete().catch(() => undefined);
          }
        } finally {
          stopped = true;
        }
      },
      stop: async () => {
        if (stopped && !current) return;
        stopped = true;
        abort.abort();
        this.onReconnect.delete(reconnected);
        const open = current;
        current = null;
        if (!open) return;
        await open.messages.close().catch(() => undefined);
        await open.consumer.delete().catch(() => undefined);
      },
    };
  }

  /** The last sequence in the events stream now (0 when empty). */
  private async tail(): Promise<number> {
    this.manager ??= jetstreamManager(this.nc);
    try {
      const info = await (await this.manager).streams.info(EVENTS_STREAM);
      return info.state.last_seq;
    } catch (error) {
      this.manager = null;
      throw error;
    }
  }

  private async open(subject: string, startSeq: number): Promise<OpenConsumer> {
    const consumer = await jetstream(this.nc).consumers.get(EVENTS_STREAM, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: startSeq,
      inactive_threshold: this.inactiveThresholdMs * 1_000_000,
    });
    const messages = await consumer.consume();
    return { consumer, messages };
  }

  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'reconnect') for (const callback of [...this.onReconnect]) callback();
    }
  }
}
