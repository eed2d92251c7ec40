import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tenant suspension: which tenants are suspended (creates and starts are refused), and which
 * workloads a suspension stopped, so resuming restarts exactly those and nothing the tenant
 * had stopped itself.
 */
export class TenantSuspension1764720000000 implements MigrationInterface {
  name = 'TenantSuspension1764720000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "scheduler"."suspended_tenants" (
        "tenant_id" uuid PRIMARY KEY,
        "suspended_at" timestamptz NOT NULL DEFAULT now(),
        "suspended_by" text NOT NULL
      )`);
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" ADD COLUMN "stopped_by_suspension" boolean NOT NULL DEFAULT false`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" DROP COLUMN "stopped_by_suspension"`);
    await queryRunner.query(`DROP TABLE "scheduler"."suspended_tenants"`);
  }
}
