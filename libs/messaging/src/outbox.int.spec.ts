/**
 * The outbox relay against a real PostgreSQL and a real JetStream: batches are published
 * pipelined and arrive in seq order; when a publish in the middle of a batch fails, only the
 * prefix before it is marked published, the failed row records the error, and once the cause
 * is gone the rest is published again without duplicates (Nats-Msg-Id dedupe).
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { EVENTS_STREAM } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { DataSource } from 'typeorm';
import { connectNats, type NatsConnection } from './connection';
import { ensureEventsStream } from './jetstream';
import { OutboxMessage, OutboxRelay, outboxTableSql } from './outbox';

const SCHEMA = 'relay_test';

describe('OutboxRelay', () => {
  let db: TestDatabase;
  let nats: TestNats;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let dataSource: DataSource;
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    [db, nats] = await Promise.all([createTestDatabase('outbox_relay'), startNats()]);
    nc = await connectNats({ url: nats.url, ...nats.control, name: 'outbox-test' });
    await ensureEventsStream(nc);
    jsm = await jetstreamManager(nc);
    dataSource = new DataSource({ type: 'postgres', url: db.url, schema: SCHEMA, entities: [OutboxMessage], extra: { max: 4 } });
    await dataSource.initialize();
    await dataSource.query(`CREATE SCHEMA "${SCHEMA}"`);
    for (const statement of outboxTableSql(SCHEMA)) await dataSource.query(statement);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await nc?.close();
    await nats?.stop();
    await db?.drop();
  });

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE "${SCHEMA}"."outbox"`);
    await jsm.streams.purge(EVENTS_STREAM);
  });

  async function enqueue(subjects: string[]): Promise<string[]> {
    const ids = subjects.map(() => randomUUID());
    for (const [i, subject] of subjects.entries()) {
      await dataSource.query(`INSERT INTO "${SCHEMA}"."outbox" ("message_id", "subject", "payload") VALUES ($1, $2, $3)`, [ids[i], subject, JSON.stringify({ i })]);
    }
    return ids;
  }

  async function streamMessages(): Promise<Array<{ subject: string; i: number; msgId: string | undefined }>> {
    const info = await jsm.streams.info(EVENTS_STREAM);
    const out = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
      const message = await jsm.streams.getMessage(EVENTS_STREAM, { seq });
      if (!message) continue;
      out.push({ subject: message.subject, i: (message.json() as { i: number }).i, msgId: message.header?.get('Nats-Msg-Id') });
    }
    return out;
  }

  async function rows(): Promise<Array<{ subject: string; published: boolean; attempts: number; last_error: string | null }>> {
    return dataSource.query(`SELECT "subject", "published_at" IS NOT NULL AS "published", "attempts", "last_error" FROM "${SCHEMA}"."outbox" ORDER BY "seq"`);
  }

  it('publishes several batches, each pipelined, in seq order, and marks every row', async () => {
    const subjects = Array.from({ length: 250 }, (_, i) => `evt.test.${i % 7}`);
    const ids = await enqueue(subjects);
    const relay = new OutboxRelay(dataSource, nc, logger, { batchSize: 100 });
    expect(await relay.drainUntilEmpty()).toBe(250);
    const messages = await streamMessages();
    expect(messages.map((message) => message.i)).toEqual(subjects.map((_, i) => i));
    expect(messages.map((message) => message.msgId)).toEqual(ids);
    expect((await rows()).every((row) => row.published)).toBe(true);
  });

  it('marks only the prefix before the first failed publish; the rest is re-sent once the cause is gone, without duplicates', async () => {
    // `nostream.*` is bound to no stream: JetStream refuses that publish, the others succeed.
    await enqueue(['evt.test.a', 'evt.test.b', 'nostream.c', 'evt.test.d', 'evt.test.e']);
    const relay = new OutboxRelay(dataSource, nc, logger, { batchSize: 100 });
    expect(await relay.drainUntilEmpty()).toBe(2);

    const after = await rows();
    expect(after.map((row) => row.published)).toEqual([true, true, false, false, false]);
    expect(after[2]!.attempts).toBe(1);
    expect(after[2]!.last_error).toEqual(expect.any(String));
    // The publishes after the failed one were pipelined and did reach the stream…
    expect((await streamMessages()).map((message) => message.i)).toEqual([0, 1, 3, 4]);

    // …and are sent again with the failed one once it can go; the dedupe drops the repeats.
    await dataSource.query(`UPDATE "${SCHEMA}"."outbox" SET "subject" = 'evt.test.c' WHERE "subject" = 'nostream.c'`);
    expect(await relay.drainUntilEmpty()).toBe(3);
    expect((await rows()).every((row) => row.published)).toBe(true);
    expect((await streamMessages()).map((message) => message.i)).toEqual([0, 1, 3, 4, 2]);
  });

  it('coalesces kicks into drains and still publishes everything', async () => {
    const relay = new OutboxRelay(dataSource, nc, logger, { batchSize: 10, intervalMs: 60_000, kickDelayMs: 20 });
    relay.start();
    try {
      for (let round = 0; round < 5; round += 1) {
        await enqueue(Array.from({ length: 7 }, () => 'evt.test.k'));
        for (let i = 0; i < 20; i += 1) relay.kick();
      }
      await waitFor(async () => (await rows()).every((row) => row.published), { timeoutMs: 10_000, intervalMs: 20, what: 'every row published' });
      expect((await streamMessages()).length).toBe(35);
    } finally {
      await relay.stop();
    }
  });
});
