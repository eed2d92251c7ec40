import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tenants and API keys. Roles are text with CHECK constraints rather than enum types so the
 * users/roles/sessions issue can widen them with a plain constraint swap. Users will get their
 * own table and an optional `api_keys.user_id` (a key acting for a user), which fits beside
 * `tenant_id` without reshaping this one.
 */
export class CreateIdentity1764201600000 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "api"."tenants" (
        "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        "name" text NOT NULL,
        "status" text NOT NULL DEFAULT 'active',
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "tenants_name_key" UNIQUE ("name"),
        CONSTRAINT "tenants_name_format" CHECK ("name" ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
        CONSTRAINT "tenants_status_valid" CHECK ("status" IN ('active', 'suspended'))
      )`);
    await queryRunner.query(`
      CREATE TABLE "api"."api_keys" (
        "id" uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        "tenant_id" uuid REFERENCES "api"."tenants" ("id"),
        "role" text NOT NULL,
        "prefix" text NOT NULL,
        "secret_hash" text NOT NULL,
        "name" text NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "last_used_at" timestamptz,
        "expires_at" timestamptz,
        "revoked_at" timestamptz,
        CONSTRAINT "api_keys_prefix_key" UNIQUE ("prefix"),
        CONSTRAINT "api_keys_prefix_format" CHECK ("prefix" ~ '^[a-z0-9]{12}$'),
        CONSTRAINT "api_keys_role_valid" CHECK ("role" IN ('operator', 'owner', 'member', 'viewer')),
        CONSTRAINT "api_keys_operator_has_no_tenant" CHECK (("role" = 'operator') = ("tenant_id" IS NULL)),
        CONSTRAINT "api_keys_secret_is_hashed" CHECK ("secret_hash" LIKE 'scrypt$%'),
        CONSTRAINT "api_keys_name_length" CHECK (char_length("name") BETWEEN 1 AND 200)
      )`);
    await queryRunner.query(`CREATE INDEX "api_keys_tenant_id" ON "api"."api_keys" ("tenant_id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "api"."api_keys"`);
    await queryRunner.query(`DROP TABLE "api"."tenants"`);
  }
}
