import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Image builds: the record a tenant polls, its log, and the build context itself (bytea,
 * bounded by GUREUM_BUILD_MAX_CONTEXT_BYTES) until the build has finished, when it is dropped.
 */
export class Builds1767341852117 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "api"."builds" (
        "id" uuid PRIMARY KEY,
        "tenant_id" uuid NOT NULL REFERENCES "api"."tenants" ("id") ON DELETE CASCADE,
        "repository" text NOT NULL,
        "tag" text NOT NULL,
        "image" text NOT NULL,
        "state" text NOT NULL,
        "host_id" text NOT NULL,
        "cpu_millis" int NOT NULL,
        "memory_mib" int NOT NULL,
        "context" bytea,
        "context_bytes" int NOT NULL,
        "log" text NOT NULL DEFAULT '',
        "log_truncated" boolean NOT NULL DEFAULT false,
        "digest" text,
        "error" text,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        "finished_at" timestamptz,
        CONSTRAINT "builds_state_valid" CHECK ("state" IN ('queued', 'building', 'pushing', 'succeeded', 'failed'))
      )`);
    await queryRunner.query(`CREATE INDEX "builds_tenant_created" ON "api"."builds" ("tenant_id", "created_at" DESC)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "api"."builds"`);
  }
}
