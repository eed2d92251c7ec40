import { randomUUID } from 'node:crypto';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventDef, parseOrThrow, type EventPayloadOf, type EventSubject } from '@gureum/contracts';
import type { Logger } from 'pino';
import { Column, Entity, PrimaryGeneratedColumn, type DataSource, type EntityManager } from 'typeorm';
import type { z } from 'zod';

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
  const def = eventDef(subject);
  const data = parseOrThrow(def.payload as z.ZodType, payload, `event ${subject}`);
  await manager.insert(OutboxMessage, { messageId, subject: def.subject, payload: data as object });
}

export interface OutboxRelayOptions {
  batchSize?: number;
  /** Poll interval: the safety net for kicks that were missed (e.g. another replica's rows). */
  intervalMs?: number;
  /** Published rows older than this are deleted. */
  retainPublishedMs?: number;
}

/**
 * Drains the outbox to JetStream. Several replicas may run it: `FOR UPDATE SKIP LOCKED`
 * gives each row to one of them, and Nats-Msg-Id makes a publish that was acknowledged but
 * not recorded (crash in between) harmless.
 */
export class OutboxRelay {
  private readonly js: JetStreamClient;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private lastCleanup = 0;

  constructor(
    private readonly dataSource: DataSource,
    nc: NatsConnection,
    private readonly logger: Logger,
    private readonly options: OutboxRelayOptions = {},
  ) {
    this.js = jetstream(nc);
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.options.intervalMs ?? 1000);
    this.kick();
  }

  /** Call after a transaction that enqueued events has committed. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
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
    await this.running;
  }

  /** Publishes until nothing is pending; returns how many were published. */
  async drainUntilEmpty(): Promise<number> {
    let total = 0;
    for (;;) {
      const published = await this.drainBatch();
      total += published;
      if (published < (this.options.batchSize ?? 100)) break;
    }
    await this.cleanup();
    return total;
  }

  private async drainBatch(): Promise<number> {
    const table = this.dataSource.getRepository(OutboxMessage).metadata.tablePath;
    return this.dataSource.transaction(async (manager) => {
      const rows: Array<{ seq: string; message_id: string; subject: string; payload: unknown }> = await manager.query(
        `SELECT seq, message_id, subject, payload FROM ${table} WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.options.batchSize ?? 100],
      );
      const done: string[] = [];
      for (const row of rows) {
        try {
          await this.js.publish(row.subject, JSON.stringify(row.payload), { msgID: row.message_id });
          done.push(row.seq);
        } catch (error) {
          await manager.query(`UPDATE ${table} SET attempts = attempts + 1, last_error = $2 WHERE seq = $1`, [row.seq, String(error)]);
          this.logger.warn({ err: error, subject: row.subject, messageId: row.message_id }, 'outbox publish failed; will retry');
          break;
        }
      }
      if (done.length > 0) await manager.query(`UPDATE ${table} SET published_at = now() WHERE seq = ANY($1::bigint[])`, [done]);
      return done.length === rows.length ? done.length : 0;
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
