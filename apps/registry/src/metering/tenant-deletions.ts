import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { EVENTS_STREAM, Events, type TenantDeleted } from '@gureum/contracts';
import type { NatsConnection } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import type { DataSource } from 'typeorm';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { emptyNamespace } from './tenant-directory';

const MS_NS = 1_000_000;

/** The registry's durable consumer of `evt.tenant.deleted.v1`. */
export const TENANT_DELETIONS_DURABLE = 'registry-tenant-deletions';

/**
 * Empties every namespace recorded for a deleted tenant id, in one transaction, with the code
 * the claim path uses for a deleted tenant (`emptyNamespace`). The recorded tenant id stays:
 * a new tenant of that name then takes the (empty) namespace over through the claim path, and
 * nothing of the old tenant is left to sample or list. Namespaces without a recorded tenant id
 * (only operators pushed there) are not the tenant's and are left alone. A redelivery finds
 * nothing left (or the namespace already another tenant's) and changes nothing.
 */
export async function purgeDeletedTenant(dataSource: DataSource, event: TenantDeleted): Promise<Array<{ namespace: string; repositories: number }>> {
  return inTransaction(dataSource, async (tx) => {
    const rows = await queryRows<{ namespace: string }>(tx, `SELECT namespace FROM "${SCHEMA}"."tenant_storage" WHERE tenant_id = $1 ORDER BY namespace FOR UPDATE`, [event.tenantId]);
    const purged: Array<{ namespace: string; repositories: number }> = [];
    for (const { namespace } of rows) purged.push({ namespace, repositories: await emptyNamespace(tx, namespace) });
    return purged;
  });
}

/**
 * Consumes the api's `evt.tenant.deleted.v1` with a durable JetStream consumer (a registry
 * that was down catches up on its restart) and empties the deleted tenant's namespace at the
 * deletion, so its public repositories stop being pullable and its storage stops being
 * counted then, not when a new tenant of its name first arrives (issue 20, hole 5). A message
 * that is not a valid event is terminated and logged; a failure (database down) is nak'ed for
 * a redelivery.
 */
export class TenantDeletions {
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly dataSource: DataSource,
    private readonly logger: Logger,
    /** A namespace was emptied (the storage sampler re-samples it). */
    private readonly onEmptied: (namespace: string) => void = () => undefined,
    private readonly ackWaitMs = 30_000,
  ) {}

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    const subject = Events.tenantDeleted.subject;
    const existing = await jsm.consumers.info(EVENTS_STREAM, TENANT_DELETIONS_DURABLE).catch(() => null);
    if (existing) await jsm.consumers.update(EVENTS_STREAM, TENANT_DELETIONS_DURABLE, { ack_wait: this.ackWaitMs * MS_NS });
    else {
      await jsm.consumers.add(EVENTS_STREAM, {
        durable_name: TENANT_DELETIONS_DURABLE,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: subject,
        ack_wait: this.ackWaitMs * MS_NS,
      });
    }
    const consumer = await jetstream(this.nc).consumers.get(EVENTS_STREAM, TENANT_DELETIONS_DURABLE);
    this.messages = await consumer.consume({ max_messages: 10 });
    const messages = this.messages;
    this.loop = (async () => {
      for await (const message of messages) await this.handle(message);
    })().catch((error: unknown) => this.logger.error({ err: error, durable: TENANT_DELETIONS_DURABLE }, 'tenant deletions consumer ended'));
  }

  async stop(): Promise<void> {
    await this.messages?.close().catch(() => undefined);
    await this.loop;
  }

  private async handle(message: JsMsg): Promise<void> {
    let event: TenantDeleted;
    try {
      const parsed = Events.tenantDeleted.payload.safeParse(message.json());
      if (!parsed.success) throw new Error(parsed.error.message);
      event = parsed.data;
    } catch (error) {
      this.logger.warn({ err: error, subject: message.subject, seq: message.seq }, 'malformed evt.tenant.deleted.v1 terminated');
      message.term();
      return;
    }
    try {
      const purged = await purgeDeletedTenant(this.dataSource, event);
      message.ack();
      for (const { namespace, repositories } of purged) {
        this.onEmptied(namespace);
        this.logger.info({ namespace, deletedTenantId: event.tenantId, repositories }, 'namespace of a deleted tenant emptied');
      }
    } catch (error) {
      this.logger.error({ err: error, tenantId: event.tenantId }, 'could not empty a deleted tenant namespace; it will be redelivered');
      message.nak(1000);
    }
  }
}
