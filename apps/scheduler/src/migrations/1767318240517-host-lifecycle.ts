import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Host lifecycle: operator states (cordoned, draining, maintenance, decommissioned) next to
 * the automatic ones (ready, lost); what a lost host was before it went silent, so an operator
 * state survives the host coming back; drain progress; one-time join tokens for enrolment.
 */
export class HostLifecycle1767318240517 implements MigrationInterface {
  name = 'HostLifecycle1767318240517';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" DROP CONSTRAINT IF EXISTS "hosts_state_check"`);
    await queryRunner.query(
      `ALTER TABLE "scheduler"."hosts" ADD CONSTRAINT "hosts_state_check"
         CHECK ("state" IN ('ready', 'cordoned', 'draining', 'maintenance', 'lost', 'decommissioned'))`,
    );
    await queryRunner.query(
      `ALTER TABLE "scheduler"."hosts"
         ADD COLUMN "state_before_lost" text CHECK ("state_before_lost" IN ('ready', 'cordoned', 'draining')),
         ADD COLUMN "drain_total" integer CHECK ("drain_total" >= 0),
         ADD COLUMN "drain_blocked" jsonb`,
    );
    // The host monitor's sweep now covers every state a silent host can be lost from.
    await queryRunner.query(`DROP INDEX "scheduler"."hosts_ready_by_heartbeat"`);
    await queryRunner.query(
      `CREATE INDEX "hosts_losable_by_heartbeat" ON "scheduler"."hosts" ("last_heartbeat_at") WHERE "state" IN ('ready', 'cordoned', 'draining')`,
    );
    await queryRunner.query(`
      CREATE TABLE "scheduler"."join_tokens" (
        "token_hash" text PRIMARY KEY,
        "node_id" text,
        "expires_at" timestamptz NOT NULL,
        "created_by" text NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "used_at" timestamptz,
        "used_by_node" text
      )`);
    // Enrolled agents authenticate with an NKey: only the public key is stored (and written to
    // the nats-server authorization file); the seed never leaves the node.
    await queryRunner.query(`
      CREATE TABLE "scheduler"."agent_credentials" (
        "node_id" text PRIMARY KEY CHECK ("node_id" ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
        "public_key" text NOT NULL UNIQUE CHECK ("public_key" ~ '^U[A-Z2-7]{55}$'),
        "enrolled_at" timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "scheduler"."agent_credentials"`);
    await queryRunner.query(`DROP TABLE "scheduler"."join_tokens"`);
    await queryRunner.query(`DROP INDEX "scheduler"."hosts_losable_by_heartbeat"`);
    await queryRunner.query(`CREATE INDEX "hosts_ready_by_heartbeat" ON "scheduler"."hosts" ("last_heartbeat_at") WHERE "state" = 'ready'`);
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" DROP COLUMN "drain_blocked", DROP COLUMN "drain_total", DROP COLUMN "state_before_lost"`);
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" DROP CONSTRAINT "hosts_state_check"`);
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" ADD CONSTRAINT "hosts_state_check" CHECK ("state" IN ('ready', 'lost'))`);
  }
}
