/**
 * JetStreamPublisher against a real nats-server with JetStream: every message of a batch is
 * acknowledged on its own (stream and sequence, in the order sent), a repeated Nats-Msg-Id is
 * a duplicate, and a message no stream takes, one nobody answers, or one still waiting when
 * the publisher closes fails alone with an error that says which of those it was.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { EVENTS_STREAM } from '@gureum/contracts';
import { startNats, type TestNats } from '@gureum/testing';
import { randomUUID } from 'node:crypto';
import { connectNats, type NatsConnection } from './connection';
import { ensureEventsStream, JetStreamPublisher, type PublishAck } from './jetstream';

describe('JetStreamPublisher', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connectNats({ url: nats.url, ...nats.control, name: 'publisher-test' });
    await ensureEventsStream(nc);
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  beforeEach(async () => {
    await jsm.streams.purge(EVENTS_STREAM);
  });

  const message = (subject: string, i: number, msgId: string = randomUUID()) => ({ subject, payload: JSON.stringify({ i }), msgId });
  const fulfilled = (results: Array<PromiseSettledResult<PublishAck>>) => results.map((result) => (result.status === 'fulfilled' ? result.value : null));
  const reasons = (results: Array<PromiseSettledResult<PublishAck>>) => results.map((result) => (result.status === 'rejected' ? String(result.reason) : null));

  it('acknowledges every message of a batch with its stream sequence, in order; a repeated Nats-Msg-Id is a duplicate', async () => {
    const publisher = new JetStreamPublisher(nc);
    const batch = Array.from({ length: 50 }, (_, i) => message(`evt.test.${i % 3}`, i));
    const acks = fulfilled(await publisher.publishAll(batch));
    expect(acks.map((ack) => ack?.stream)).toEqual(batch.map(() => EVENTS_STREAM));
    expect(acks.map((ack) => ack?.seq)).toEqual(batch.map((_, i) => i + 1));
    expect(acks.every((ack) => ack?.duplicate === false)).toBe(true);

    const again = fulfilled(await publisher.publishAll([batch[7]!, message('evt.test.new', 50)]));
    expect(again).toEqual([
      { stream: EVENTS_STREAM, seq: 8, duplicate: true },
      { stream: EVENTS_STREAM, seq: 51, duplicate: false },
    ]);
    const stored = await jsm.streams.getMessage(EVENTS_STREAM, { seq: 8 });
    expect(stored?.header?.get('Nats-Msg-Id')).toBe(batch[7]!.msgId);
    expect((await jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(51);
    publisher.close();
  });

  it('fails only the message no stream takes, saying so', async () => {
    const publisher = new JetStreamPublisher(nc);
    const results = await publisher.publishAll([message('evt.test.a', 0), message('nostream.b', 1), message('evt.test.c', 2)]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(reasons(results)[1]).toMatch(/no stream takes this subject/);
    expect((await jsm.streams.info(EVENTS_STREAM)).state.messages).toBe(2);
    publisher.close();
  });

  it('fails a message nobody acknowledges after the timeout, and what still waits when it closes', async () => {
    // Someone listens on the subject (so the server does not answer "no responders") but never replies.
    const silent = nc.subscribe('silent.>', { callback: () => undefined });
    await nc.flush();
    const publisher = new JetStreamPublisher(nc, 300);
    const results = await publisher.publishAll([message('evt.test.a', 0), message('silent.b', 1)]);
    expect(results[0]!.status).toBe('fulfilled');
    expect(reasons(results)[1]).toMatch(/no ack within 300 ms/);

    const slow = new JetStreamPublisher(nc, 60_000);
    const pending = slow.publishAll([message('silent.c', 2)]);
    slow.close();
    expect(reasons(await pending)[0]).toMatch(/publisher was closed/);
    silent.unsubscribe();
    publisher.close();
  });
});
