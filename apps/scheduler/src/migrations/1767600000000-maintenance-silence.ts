import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A host leaving maintenance starts its missed-heartbeat clock afresh: its agent was allowed to
 * be silent, so the silence before the operator's uncordon/drain must not count towards `lost`.
 */
export class MaintenanceSilence1767600000000 implements MigrationInterface {
  name = 'MaintenanceSilence1767600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" ADD COLUMN "left_maintenance_at" timestamptz`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."hosts" DROP COLUMN "left_maintenance_at"`);
  }
}
