import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventDef, parseOrThrow, type EventPayloadOf, type EventSubject } from '@gureum/contracts';
import type { Logger } from 'pino';
import { Column, Entity, PrimaryGeneratedColumn, type DataSource, type EntityManager } from 'typeorm';
import type { z } from 'zod';
import { JetStreamPublisher } from './jetstream';

/**
 * Events waiting to leave a service. Rows are written in the same transaction as the state
 * they describe, so an event exists if and only if its transaction committed. The table lives
 * in the owning service's schema (the DataSource's `schema`).
 */
@Entity({ name: 'outbox' })
export class OutboxMessage {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  seq!: string;

  /** Sent as Nats-Msg-Id, so a re-publish after a crash is dropped by JetStream's dedupe. */
  @Column('uuid', { name: 'message_id', unique: true })
  messageId!: string;

  @Column('text')
  subject!: string;

  @Column('jsonb')
  payload!: unknown;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'published_at', nullable: true })
  publishedAt!: Date | null;

  @Column('int', { default: 0 })
  attempts!: number;

  @Column('text', { name: 'last_error', nullable: true })
  lastError!: string | null;
}

/** DDL for a service migration; kept next to the entity so both change together. */
export function outboxTableSql(schema: string): string[] {
  return [
    `CREATE TABLE "${schema}"."outbox" (
      "seq" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      "message_id" uuid NOT NULL UNIQUE,
      "subject" text NOT NULL,
      "payload" jsonb NOT NULL,
      "created_at" timestamptz NOT NULL DEFAULT now(),
      "published_at" timestamptz,
      "attempts" int NOT NULL DEFAULT 0,
      "last_error" text
    )`,
    `CREATE INDEX "outbox_unpublished" ON "${schema}"."outbox" ("seq") WHERE "published_at" IS NULL`,
  ];
}

/** Adds an event to the outbox inside the caller's transaction. */
export async function enqueueEvent<S extends EventSubject>(
  manager: EntityManager,
  subject: S,
  payload: EventPayloadOf<S>,
  messageId: string = randomUUID(),
): Promise<void> {
  const row = outboxRowOf(subject, payload, messageId);
  await manager.insert(OutboxMessage, { messageId: row.messageId, subject: row.subject, payload: row.payload });
}

/**
 * The outbox row `enqueueEvent` writes for an event (the payload validated against the
 * subject's schema), for a statement that writes it together with the state it describes:
 * columns `message_id`, `subject`, `payload` (jsonb; `JSON.stringify(payload)` as a parameter).
 */
export function outboxRowOf<S extends EventSubject>(subject: S, payload: EventPayloadOf<S>, messageId: string = randomUUID()): { messageId: string; subject: string; payload: object } {
  const def = eventDef(subject);
  return { messageId, subject: def.subject, payload: parseOrThrow(def.payload as z.ZodType, payload, `event ${subject}`) as object };
}

export interface OutboxRelayOptions {
  batchSize?: number;
  /** Poll interval: the safety net for kicks that were missed (e.g. another replica's rows). */
  intervalMs?: number;
  /** Published rows older than this are deleted. */
  retainPublishedMs?: number;
  /**
   * How long a kick waits before draining, so the events of many transactions committing at
   * about the same time leave in one batch (one relay transaction) instead of one each.
   */
  kickDelayMs?: number;
}

/**
 * Drains the outbox to JetStream. Several replicas may run it: `FOR UPDATE SKIP LOCKED`
 * gives each row to one of them, and Nats-Msg-Id makes a publish that was acknowledged but
 * not recorded (crash in between) harmless.
 */
export class OutboxRelay {
  private readonly publisher: JetStreamPublisher;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private pendingKick: NodeJS.Timeout | null = null;
  private again = false;
  private stopped = false;
  private lastCleanup = 0;

  constructor(
    private readonly dataSource: DataSource,
    nc: NatsConnection,
    private readonly logger: Logger,
    private readonly options: OutboxRelayOptions = {},
  ) {
    this.publisher = new JetStreamPublisher(nc);
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.options.intervalMs ?? 1000);
    this.kick();
  }

  /**
   * Call after a transaction that enqueued events has committed. Kicks are coalesced: the
   * first one schedules a drain `kickDelayMs` later, the ones until then join it, and kicks
   * during a drain make it run once more.
   */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.pendingKick) return;
    const delay = this.options.kickDelayMs ?? 5;
    if (delay <= 0) return this.drainNow();
    this.pendingKick = setTimeout(() => {
      this.pendingKick = null;
      this.drainNow();
    }, delay);
  }

  private drainNow(): void {
    if (this.stopped || this.running) return;
    this.running = this.drainUntilEmpty()
      .then(() => undefined)
      .catch((error: unknown) => this.logger.error({ err: error }, 'outbox relay failed'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.pendingKick) clearTimeout(this.pendingKick);
    this.pendingKick = null;
    await this.running;
    this.publisher.close();
  }

  /** Publishes until nothing is pending; returns how many were published. */
  async drainUntilEmpty(): Promise<number> {
    let total = 0;
    for (;;) {
      const { published, complete } = await this.drainBatch();
      total += published;
      // A short batch means nothing is left; a failed publish waits for the next kick or poll.
      if (!complete || published < (this.options.batchSize ?? 100)) break;
    }
    await this.cleanup();
    return total;
  }

  private async drainBatch(): Promise<{ published: number; complete: boolean }> {
    const table = this.dataSource.getRepository(OutboxMessage).metadata.tablePath;
    return this.dataSource.transaction(async (manager) => {
      // The payload leaves as PostgreSQL's text of the stored jsonb (valid JSON, validated when it
      // was written): parsing it into objects only to serialise them again was relay CPU per event.
      const rows: Array<{ seq: string; message_id: string; subject: string; payload: string }> = await manager.query(
        `SELECT seq, message_id, subject, payload::text AS payload FROM ${table} WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.options.batchSize ?? 100],
      );
      // Pipelined: every publish of the batch is sent before any ack is awaited (one round
      // trip to JetStream per batch instead of one per event). Only the prefix before the
      // first failure is marked published, so a failed event is never overtaken for good:
      // it and everything after it are published again next time (those whose publish did
      // succeed are dropped there by the Nats-Msg-Id dedupe), in seq order.
      const acks = await this.publisher.publishAll(rows.map((row) => ({ subject: row.subject, payload: row.payload, msgId: row.message_id })));
      const failedAt = acks.findIndex((ack) => ack.status === 'rejected');
      const done = (failedAt === -1 ? rows : rows.slice(0, failedAt)).map((row) => row.seq);
      if (failedAt !== -1) {
        const row = rows[failedAt]!;
        const error = (acks[failedAt] as PromiseRejectedResult).reason as unknown;
        await manager.query(`UPDATE ${table} SET attempts = attempts + 1, last_error = $2 WHERE seq = $1`, [row.seq, String(error)]);
        this.logger.warn({ err: error, subject: row.subject, messageId: row.message_id, notMarked: rows.length - failedAt - 1 }, 'outbox publish failed; will retry');
      }
      if (done.length > 0) await manager.query(`UPDATE ${table} SET published_at = now() WHERE seq = ANY($1::bigint[])`, [done]);
      return { published: done.length, complete: done.length === rows.length };
    });
  }

  private async cleanup(): Promise<void> {
    const now = Date.now();
    if (now - this.lastCleanup < 60_000) return;
    this.lastCleanup = now;
    const table = this.dataSource.getRepository(OutboxMessage).metadata.tablePath;
    const retainSeconds = Math.round((this.options.retainPublishedMs ?? 24 * 3600 * 1000) / 1000);
    await this.dataSource.query(`DELETE FROM ${table} WHERE published_at < now() - make_interval(secs => $1)`, [retainSeconds]);
  }
}
