import { jetstreamManager } from '@nats-io/jetstream';
import { USAGE_STREAM } from '@gureum/contracts';
import type { NatsConnection } from '@gureum/messaging';

const SECOND_NS = 1_000_000_000;

/**
 * The stream that captures agents' core publishes of usage samples. Its duplicate window
 * drops a re-sent sample (same Nats-Msg-Id) at the server; PostgreSQL's unique dedupe key
 * catches whatever arrives outside it.
 */
export async function ensureUsageStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = { name: USAGE_STREAM, subjects: ['agent.*.evt.usage.v1'], duplicate_window: 10 * 60 * SECOND_NS, max_age: 7 * 24 * 3600 * SECOND_NS };
  const existing = await jsm.streams.info(USAGE_STREAM).catch((error: unknown) => {
    if (error instanceof Error && /stream not found/i.test(error.message)) return null;
    throw error;
  });
  if (existing) await jsm.streams.update(USAGE_STREAM, config);
  else await jsm.streams.add(config);
}
