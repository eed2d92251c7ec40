import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
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
