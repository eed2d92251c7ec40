import { DeliverPolicy, jetstream, type ConsumerMessages } from '@nats-io/jetstream';
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
  /** Ends the iteration and deletes the server-side consumer. Idempotent. */
  stop(): Promise<void>;
}

/** The live events of the platform, per client connection. Behind an interface so the SSE handler can be tested without NATS. */
export abstract class EventFeed {
  /** `afterSeq`: resume after this stream sequence (a reconnect); otherwise only new events. */
  abstract subscribe(subject: string, afterSeq: number | null): Promise<FeedSubscription>;
}

/**
 * An ordered ephemeral JetStream consumer per subscription: no state on the server beyond the
 * connection's life (the client library recreates it on a gap and deletes it on stop), and
 * events arrive in stream order, so a client sees every transition of a workload in sequence.
 */
export class JetStreamEventFeed extends EventFeed {
  constructor(private readonly nc: NatsConnection) {
    super();
  }

  async subscribe(subject: string, afterSeq: number | null): Promise<FeedSubscription> {
    const consumer = await jetstream(this.nc).consumers.get(EVENTS_STREAM, {
      filter_subjects: subject,
      ...(afterSeq === null ? { deliver_policy: DeliverPolicy.New } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: afterSeq + 1 }),
    });
    const messages: ConsumerMessages = await consumer.consume();
    let stopped: Promise<void> | null = null;
    return {
      async *[Symbol.asyncIterator]() {
        for await (const message of messages) yield { subject: message.subject, seq: message.seq, data: message.data };
      },
      stop: () => (stopped ??= messages.close().then(() => undefined)),
    };
  }
}
