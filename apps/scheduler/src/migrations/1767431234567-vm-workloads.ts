import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * VM workloads: their VM-only fields (disk size, kernel arguments) on the workload row, and
 * the reservation a migration holds on its target host while the VM still runs (and still
 * holds its claim) on the source. One migration per workload at a time.
 */
export class VmWorkloads1767431234567 implements MigrationInterface {
  name = 'VmWorkloads1767431234567';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" ADD COLUMN "vm" jsonb`);
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" ADD CONSTRAINT "workloads_vm_iff_kind_vm" CHECK (("kind" = 'vm') = ("vm" IS NOT NULL))`);
    await queryRunner.query(`
      CREATE TABLE "scheduler"."migration_claims" (
        "workload_id" uuid PRIMARY KEY REFERENCES "scheduler"."workloads" ("id"),
        "source_host_id" text NOT NULL REFERENCES "scheduler"."hosts" ("id"),
        "target_host_id" text NOT NULL REFERENCES "scheduler"."hosts" ("id"),
        "mode" text NOT NULL CHECK ("mode" IN ('live', 'cold')),
        "cpu_millis" integer NOT NULL CHECK ("cpu_millis" > 0),
        "memory_mib" integer NOT NULL CHECK ("memory_mib" > 0),
        "pids" integer NOT NULL CHECK ("pids" > 0),
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CHECK ("source_host_id" <> "target_host_id")
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "scheduler"."migration_claims"`);
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" DROP CONSTRAINT "workloads_vm_iff_kind_vm"`);
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" DROP COLUMN "vm"`);
  }
}
