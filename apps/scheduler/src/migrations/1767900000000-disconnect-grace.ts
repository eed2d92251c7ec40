import type { MigrationInterface, QueryRunner } from 'typeorm';

const WORKLOAD_STATES_BEFORE = ['pending', 'scheduled', 'starting', 'running', 'paused', 'stopping', 'stopped', 'migrating', 'failed', 'lost', 'deleted'];
const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/**
 * Disconnected is not dead (issue 21): a silent host is first `unreachable`, its workloads
 * `unknown` with their placement kept, and only `lost` after the grace window. The lists are
 * written out (not read from the contract) so that this migration means the same forever.
 */
export class DisconnectGrace1767900000000 implements MigrationInterface {
  name = 'DisconnectGrace1767900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" DROP CONSTRAINT IF EXISTS "hosts_state_check"`);
    await queryRunner.query(
      `ALTER TABLE "scheduler"."hosts" ADD CONSTRAINT "hosts_state_check"
         CHECK ("state" IN ('ready', 'cordoned', 'draining', 'maintenance', 'unreachable', 'lost', 'decommissioned'))`,
    );
    // When the host last went unreachable: the grace window runs from there, not from its last
    // heartbeat row (which may be old for reasons of the control plane's own, e.g. an outage).
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" ADD COLUMN "unreachable_since" timestamptz`);
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" DROP CONSTRAINT IF EXISTS "workloads_state_check"`);
    await queryRunner.query(
      `ALTER TABLE "scheduler"."workloads" ADD CONSTRAINT "workloads_state_check" CHECK ("state" IN (${list([...WORKLOAD_STATES_BEFORE, 'unknown'])}))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    // What was unknown or unreachable is treated as the next sweep would have: lost.
    await queryRunner.query(`UPDATE "scheduler"."workloads" SET "state" = 'lost' WHERE "state" = 'unknown'`);
    await queryRunner.query(`UPDATE "scheduler"."hosts" SET "state" = 'lost' WHERE "state" = 'unreachable'`);
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" DROP COLUMN "unreachable_since"`);
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" DROP CONSTRAINT "workloads_state_check"`);
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" ADD CONSTRAINT "workloads_state_check" CHECK ("state" IN (${list(WORKLOAD_STATES_BEFORE)}))`);
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" DROP CONSTRAINT "hosts_state_check"`);
    await queryRunner.query(
      `ALTER TABLE "scheduler"."hosts" ADD CONSTRAINT "hosts_state_check"
         CHECK ("state" IN ('ready', 'cordoned', 'draining', 'maintenance', 'lost', 'decommissioned'))`,
    );
  }
}
