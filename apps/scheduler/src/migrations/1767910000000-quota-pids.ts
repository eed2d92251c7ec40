import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"scheduler"';

/**
 * A per-tenant pids quota beside CPU, memory, workloads and VMs: the sum of the process limits
 * (`resources.pids`) of a tenant's live workloads. What live workloads already hold is counted
 * at once, so the quota holds from the first create after the migration.
 */
export class QuotaPids1767910000000 implements MigrationInterface {
  name = 'QuotaPids1767910000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `ALTER TABLE ${S}."tenant_quotas" ADD COLUMN "pids" bigint CHECK ("pids" >= 0)`,
      `ALTER TABLE ${S}."quota_usage" ADD COLUMN "pids" bigint NOT NULL DEFAULT 0 CHECK ("pids" >= 0)`,
      `UPDATE ${S}."quota_usage" u SET "pids" = w."pids"
         FROM (SELECT "tenant_id", sum("pids") AS "pids" FROM ${S}."workloads" WHERE "state" <> 'deleted' GROUP BY "tenant_id") w
        WHERE u."tenant_id" = w."tenant_id"`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE ${S}."quota_usage" DROP COLUMN "pids"`);
    await queryRunner.query(`ALTER TABLE ${S}."tenant_quotas" DROP COLUMN "pids"`);
  }
}
