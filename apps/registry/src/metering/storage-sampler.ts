import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { eventDef, parseOrThrow, type RegistryStorageSample } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import type { DataSource } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';

const SUBJECT = 'evt.registry.storage.v1';

/**
 * Publishes `evt.registry.storage.v1`: the bytes stored in each tenant repository, for
 * metering's GiB-hours. Every repository of a namespace whose tenant id is known gets a
 * sample on the timer, and its namespace gets a fresh set about a second after a push,
 * delete or garbage collection touched it (coalesced: a burst of pushes yields one set per
 * second, not one per image).
 *
 * A blob is stored once per tenant however many of its repositories link it, so each blob is
 * attributed to the repository of the namespace that linked it first: the samples of a
 * tenant add up to exactly its quota usage (`tenant_storage.used_bytes`).
 *
 * Samples are facts about a moment, not about a transaction, so they go straight to
 * JetStream (the next timer tick replaces a lost one) with `Nats-Msg-Id` = `sampleId`
 * (`<repository>@<at>`), so a retried publish is stored once.
 */
export class StorageSampler {
  private readonly js: JetStreamClient;
  private readonly pending = new Set<string>();
  private flushing: Promise<void> | null = null;
  private delayed: NodeJS.Timeout | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  /** `changeDelayMs`: how long changes are collected before their namespaces are sampled (a push of many images yields one set). */
  constructor(
    private readonly dataSource: DataSource,
    nc: NatsConnection,
    private readonly logger: Logger,
    private readonly changeDelayMs = 1000,
  ) {
    this.js = jetstream(nc);
  }

  start(intervalSeconds: number): void {
    this.timer = setInterval(() => {
      this.sampleAll().catch((error: unknown) => this.logger.warn({ err: error }, 'storage sampling failed'));
    }, intervalSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.delayed) clearTimeout(this.delayed);
    await this.flushing;
  }

  /** A push, delete or collection changed what `namespace` stores: sample it soon. */
  changed(namespace: string): void {
    if (this.stopped) return;
    this.pending.add(namespace);
    this.schedule();
  }

  private schedule(): void {
    if (this.delayed || this.flushing || this.stopped) return;
    this.delayed = setTimeout(() => {
      this.delayed = null;
      this.flushing = this.flush().finally(() => {
        this.flushing = null;
        if (this.pending.size > 0) this.schedule();
      });
    }, this.changeDelayMs);
    this.delayed.unref();
  }

  /** Samples every repository of every namespace with a known tenant; returns how many were published. */
  async sampleAll(): Promise<number> {
    return this.publish(await this.measure(null));
  }

  /** Samples every repository of one namespace; returns how many were published. */
  async sampleNamespace(namespace: string): Promise<number> {
    return this.publish(await this.measure(namespace));
  }

  private async flush(): Promise<void> {
    while (this.pending.size > 0 && !this.stopped) {
      const namespaces = [...this.pending];
      this.pending.clear();
      for (const namespace of namespaces) {
        await this.sampleNamespace(namespace).catch((error: unknown) => this.logger.warn({ err: error, namespace }, 'storage sampling failed'));
      }
    }
  }

  private async measure(namespace: string | null): Promise<RegistryStorageSample[]> {
    const rows = await queryRows<{ name: string; namespace: string; tenant_id: string; bytes: string; at: Date }>(
      this.dataSource.manager,
      `WITH attributed AS (
         SELECT DISTINCT ON (rb.namespace, rb.digest) rb.repository_id, rb.digest
           FROM "${SCHEMA}"."repository_blobs" rb
          WHERE $1::text IS NULL OR rb.namespace = $1
          ORDER BY rb.namespace, rb.digest, rb.created_at, rb.repository_id
       )
       SELECT r.name, r.namespace, ts.tenant_id, COALESCE(SUM(b.size), 0)::text AS bytes, now() AS at
         FROM "${SCHEMA}"."repositories" r
         JOIN "${SCHEMA}"."tenant_storage" ts ON ts.namespace = r.namespace AND ts.tenant_id IS NOT NULL
         LEFT JOIN attributed a ON a.repository_id = r.id
         LEFT JOIN "${SCHEMA}"."blobs" b ON b.digest = a.digest
        WHERE $1::text IS NULL OR r.namespace = $1
        GROUP BY r.name, r.namespace, ts.tenant_id
        ORDER BY r.name`,
      [namespace],
    );
    return rows.map((row) => {
      const at = new Date(row.at).toISOString();
      return { sampleId: `${row.name}@${at}`, tenantId: row.tenant_id, tenantName: row.namespace, repository: row.name, bytes: Number(row.bytes), at };
    });
  }

  private async publish(samples: RegistryStorageSample[]): Promise<number> {
    const def = eventDef(SUBJECT);
    for (const sample of samples) {
      const payload = parseOrThrow(def.payload, sample, `event ${SUBJECT}`);
      await this.js.publish(def.subject, JSON.stringify(payload), { msgID: payload.sampleId });
    }
    if (samples.length > 0) this.logger.debug({ samples: samples.length }, 'storage samples published');
    return samples.length;
  }
}
