import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"scheduler"';

/**
 * Placement hints and priority on workloads, and per-tenant compute quotas: operator overrides
 * (`tenant_quotas`, null = the configured default) and what live workloads hold (`quota_usage`,
 * changed only in the transaction that creates or deletes a workload, under the row's lock).
 */
export class PlacementAndQuotas1767349215830 implements MigrationInterface {
  name = 'PlacementAndQuotas1767349215830';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `ALTER TABLE ${S}."workloads"
         ADD COLUMN "placement" jsonb,
         ADD COLUMN "affinity_group" text,
         ADD COLUMN "anti_affinity_group" text,
         ADD COLUMN "priority" integer NOT NULL DEFAULT 0 CHECK ("priority" BETWEEN 0 AND 1000),
         ADD COLUMN "preemptible" boolean NOT NULL DEFAULT false`,
      // "Which hosts run a member of this group" at placement time, per tenant.
      `CREATE INDEX "workloads_affinity_group" ON ${S}."workloads" ("tenant_id", "affinity_group", "host_id")
         WHERE "affinity_group" IS NOT NULL AND "state" <> 'deleted'`,
      `CREATE INDEX "workloads_anti_affinity_group" ON ${S}."workloads" ("tenant_id", "anti_affinity_group", "host_id")
         WHERE "anti_affinity_group" IS NOT NULL AND "state" <> 'deleted'`,
      // Preemption: live, preemptible-by-priority workloads of one host, lowest priority first.
      `CREATE INDEX "workloads_by_host_priority" ON ${S}."workloads" ("host_id", "priority") WHERE "state" <> 'deleted' AND "host_id" IS NOT NULL`,
      `CREATE TABLE ${S}."tenant_quotas" (
        "tenant_id" uuid PRIMARY KEY,
        "cpu_millis" bigint CHECK ("cpu_millis" >= 0),
        "memory_mib" bigint CHECK ("memory_mib" >= 0),
        "workloads" integer CHECK ("workloads" >= 0),
        "vms" integer CHECK ("vms" >= 0),
        "updated_by" text NOT NULL,
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ${S}."quota_usage" (
        "tenant_id" uuid PRIMARY KEY,
        "cpu_millis" bigint NOT NULL DEFAULT 0 CHECK ("cpu_millis" >= 0),
        "memory_mib" bigint NOT NULL DEFAULT 0 CHECK ("memory_mib" >= 0),
        "workloads" integer NOT NULL DEFAULT 0 CHECK ("workloads" >= 0),
        "vms" integer NOT NULL DEFAULT 0 CHECK ("vms" >= 0)
      )`,
      // Workloads created before quotas existed count from now on.
      `INSERT INTO ${S}."quota_usage" ("tenant_id", "cpu_millis", "memory_mib", "workloads", "vms")
         SELECT "tenant_id", sum("cpu_millis"), sum("memory_mib"), count(*), count(*) FILTER (WHERE "kind" = 'vm')
           FROM ${S}."workloads" WHERE "state" <> 'deleted' GROUP BY "tenant_id"`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE ${S}."quota_usage"`);
    await queryRunner.query(`DROP TABLE ${S}."tenant_quotas"`);
    await queryRunner.query(`DROP INDEX ${S}."workloads_by_host_priority"`);
    await queryRunner.query(`DROP INDEX ${S}."workloads_anti_affinity_group"`);
    await queryRunner.query(`DROP INDEX ${S}."workloads_affinity_group"`);
    await queryRunner.query(
      `ALTER TABLE ${S}."workloads" DROP COLUMN "placement", DROP COLUMN "affinity_group", DROP COLUMN "anti_affinity_group", DROP COLUMN "priority", DROP COLUMN "preemptible"`,
    );
  }
}
