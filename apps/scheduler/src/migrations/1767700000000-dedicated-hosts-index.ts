import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The hosts dedicated to a tenant (label `gureum.io/dedicated`), indexed on their own: every
 * create batch's pre-check asks which tenants have dedicated hosts, and without this index
 * that is a scan of every host's labels (10,000 rows per batch at fleet size) to find the few.
 * The predicate is the query's own `labels ? 'gureum.io/dedicated'`, so the planner uses it.
 */
export class DedicatedHostsIndex1767700000000 implements MigrationInterface {
  name = 'DedicatedHostsIndex1767700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "hosts_dedicated" ON "scheduler"."hosts" (("labels"->>'gureum.io/dedicated')) WHERE "labels" ? 'gureum.io/dedicated'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "scheduler"."hosts_dedicated"`);
  }
}
