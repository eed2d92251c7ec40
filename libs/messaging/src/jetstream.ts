import { jetstreamManager } from '@nats-io/jetstream';
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { EVENTS_STREAM } from '@gureum/contracts';

const SECOND_NS = 1_000_000_000;

/**
 * Creates (or updates) the stream that carries every `evt.>` fact. The duplicate window is
 * what makes outbox redelivery safe: a message re-sent with the same Nats-Msg-Id within it is
 * dropped by the server.
 */
export async function ensureEventsStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = {
    name: EVENTS_STREAM,
    subjects: ['evt.>'],
    duplicate_window: 120 * SECOND_NS,
    max_age: 7 * 24 * 3600 * SECOND_NS,
  };
  try {
    await jsm.streams.info(EVENTS_STREAM);
    await jsm.streams.update(EVENTS_STREAM, config);
  } catch (error) {
    if (error instanceof Error && /stream not found/i.test(error.message)) {
      await jsm.streams.add(config);
      return;
    }
    throw error;
  }
}

/** JetStream's acknowledgement of one stored message. */
export interface PublishAck {
  stream: string;
  seq: number;
  /** The Nats-Msg-Id was seen within the duplicate window: the message was not stored again. */
  duplicate: boolean;
}

/** A message for `JetStreamPublisher.publishAll`; `msgId` goes as Nats-Msg-Id (JetStream's dedupe). */
export interface PublishMessage {
  subject: string;
  payload: string;
  msgId: string;
}

/**
 * Publishes many messages to JetStream at once, each acknowledged on its own, without a NATS
 * request per message. Every message is a plain publish whose reply subject is a token under
 * one inbox of this publisher's (one subscription for all of them), and JetStream sends its
 * ack or error there. nats.js's `js.publish` makes each message a request: a mux entry, a
 * timer, and — when the answered request is cancelled — a `RequestError("cancelled")` built
 * with its stack. For a scheduler replica that placed 35,000 workloads (one event each;
 * `--cpu-prof`, docs/scheduler.md) handling the acks took 270 ms with `js.publish` (220 of them
 * that error) and 50 ms with this; sending, 232 and 217 ms.
 *
 * A subject no stream takes is answered by the server with "no responders" (503), an error
 * from JetStream (say, a full stream) with its description, and no answer within `timeoutMs`
 * with a timeout: each fails only its own message.
 */
export class JetStreamPublisher {
  private readonly inbox: string;
  private subscription: Subscription | null = null;
  private readonly waiting = new Map<string, { resolve: (ack: PublishAck) => void; reject: (error: Error) => void }>();
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5_000,
  ) {
    // The connection's own prefix (agents may only subscribe to theirs), as nats.js's requests use it.
    this.inbox = createInbox((nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  }

  /** Sends every message before any ack is awaited; settles in the order given. */
  publishAll(messages: readonly PublishMessage[]): Promise<Array<PromiseSettledResult<PublishAck>>> {
    this.subscribe();
    const tokens: string[] = [];
    const acks = messages.map((message) => {
      this.next += 1;
      const token = String(this.next);
      tokens.push(token);
      const ack = new Promise<PublishAck>((resolve, reject) => this.waiting.set(token, { resolve, reject }));
      const msgHeaders = headers();
      msgHeaders.set('Nats-Msg-Id', message.msgId);
      try {
        this.nc.publish(message.subject, message.payload, { reply: `${this.inbox}.${token}`, headers: msgHeaders });
      } catch (error) {
        this.settle(token, error instanceof Error ? error : new Error(String(error)));
      }
      return ack;
    });
    const timer = setTimeout(() => {
      for (const token of tokens) this.settle(token, new Error(`JetStream publish: no ack within ${this.timeoutMs} ms`));
    }, this.timeoutMs);
    return Promise.allSettled(acks).finally(() => clearTimeout(timer));
  }

  /** Stops listening; whatever still waits for its ack fails. */
  close(): void {
    this.subscription?.unsubscribe();
    this.subscription = null;
    for (const token of [...this.waiting.keys()]) this.settle(token, new Error('JetStream publish: the publisher was closed'));
  }

  private subscribe(): void {
    if (this.subscription) return;
    this.subscription = this.nc.subscribe(`${this.inbox}.*`, {
      callback: (error, msg) => {
        if (!error) {
          this.answer(msg);
          return;
        }
        // The subscription is gone (say, a permissions error): everything waiting fails, the next batch subscribes again.
        this.subscription = null;
        for (const token of [...this.waiting.keys()]) this.settle(token, error);
      },
    });
  }

  private answer(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    if (msg.headers?.hasError) {
      const reason = msg.headers.code === 503 ? 'no stream takes this subject (no responders)' : `${msg.headers.code} ${msg.headers.description}`;
      this.settle(token, new Error(`JetStream publish failed: ${reason}`));
      return;
    }
    let answer: { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; err_code?: number; description?: string } };
    try {
      answer = msg.json();
    } catch {
      this.settle(token, new Error('JetStream publish: the ack is not JSON'));
      return;
    }
    if (answer.error) this.settle(token, new Error(`JetStream refused the publish: ${answer.error.description ?? 'no description'} (${answer.error.code ?? '?'}/${answer.error.err_code ?? '?'})`));
    else if (!answer.stream || typeof answer.seq !== 'number') this.settle(token, new Error('JetStream publish: invalid ack'));
    else this.settle(token, { stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate ?? false });
  }

  private settle(token: string, outcome: PublishAck | Error): void {
    const entry = this.waiting.get(token);
    if (!entry) return;
    this.waiting.delete(token);
    if (outcome instanceof Error) entry.reject(outcome);
    else entry.resolve(outcome);
  }
}
