import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A heartbeat's write (`last_heartbeat_at = now()`, ~333 hosts/s at 10,000 hosts, coalesced)
 * changed an indexed column, so every one wrote a new entry into every index of `hosts`, the
 * GIN index of images among them, and left the pages full for the create batches' allocation
 * updates too (7,200 dead versions on 10,000 rows after a bench run; a flush of ~140
 * heartbeats took 10.7 ms in PostgreSQL). Without that index, and with room left on each
 * page, both are heap-only (HOT) updates. The index served only the sweep for silent hosts,
 * once per heartbeat interval: a scan of the hosts table, 3.7 ms at 10,000 hosts.
 */
export class HeartbeatsHot1767800000000 implements MigrationInterface {
  name = 'HeartbeatsHot1767800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "scheduler"."hosts_losable_by_heartbeat"`);
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" SET (fillfactor = 80)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" RESET (fillfactor)`);
    await queryRunner.query(
      `CREATE INDEX "hosts_losable_by_heartbeat" ON "scheduler"."hosts" ("last_heartbeat_at") WHERE "state" IN ('ready', 'cordoned', 'draining')`,
    );
  }
}
