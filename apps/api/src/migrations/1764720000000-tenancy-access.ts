import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Users (one role in one tenant, or a platform operator), login sessions (access + refresh
 * token, stored only as SHA-256 digests of 32 random bytes), and the audit trail of every
 * mutating call.
 */
export class TenancyAccess1764720000000 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "api"."users" (
        "id" uuid PRIMARY KEY,
        "login" text NOT NULL,
        "tenant_id" uuid REFERENCES "api"."tenants" ("id") ON DELETE CASCADE,
        "role" text NOT NULL,
        "password_hash" text NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "users_login_key" UNIQUE ("login"),
        CONSTRAINT "users_login_format" CHECK ("login" ~ '^[a-z0-9][a-z0-9._@+-]{1,199}$'),
        CONSTRAINT "users_role_valid" CHECK ("role" IN ('operator', 'owner', 'member', 'viewer')),
        CONSTRAINT "users_operator_has_no_tenant" CHECK (("role" = 'operator') = ("tenant_id" IS NULL)),
        CONSTRAINT "users_password_is_hashed" CHECK ("password_hash" LIKE 'scrypt$%')
      )`);
    await queryRunner.query(`CREATE INDEX "users_tenant_id" ON "api"."users" ("tenant_id")`);
    await queryRunner.query(`
      CREATE TABLE "api"."sessions" (
        "id" uuid PRIMARY KEY,
        "user_id" uuid NOT NULL REFERENCES "api"."users" ("id") ON DELETE CASCADE,
        "access_digest" text NOT NULL,
        "refresh_digest" text NOT NULL,
        "access_expires_at" timestamptz NOT NULL,
        "refresh_expires_at" timestamptz NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "revoked_at" timestamptz,
        CONSTRAINT "sessions_access_digest_key" UNIQUE ("access_digest"),
        CONSTRAINT "sessions_refresh_digest_key" UNIQUE ("refresh_digest")
      )`);
    await queryRunner.query(`CREATE INDEX "sessions_user_id" ON "api"."sessions" ("user_id")`);
    await queryRunner.query(`ALTER TABLE "api"."api_keys" DROP CONSTRAINT "api_keys_tenant_id_fkey"`);
    await queryRunner.query(`ALTER TABLE "api"."api_keys" ADD CONSTRAINT "api_keys_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "api"."tenants" ("id") ON DELETE CASCADE`);
    // No foreign keys: the trail outlives the tenants, users and keys it mentions.
    await queryRunner.query(`
      CREATE TABLE "api"."audit_entries" (
        "id" bigserial PRIMARY KEY,
        "at" timestamptz NOT NULL DEFAULT now(),
        "principal_id" text,
        "principal_kind" text,
        "role" text,
        "tenant_id" uuid,
        "action" text NOT NULL,
        "target" text,
        "result" text NOT NULL,
        "status" integer NOT NULL,
        "request_id" text NOT NULL,
        "source_address" text
      )`);
    await queryRunner.query(`CREATE INDEX "audit_entries_tenant_id" ON "api"."audit_entries" ("tenant_id", "id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "api"."audit_entries"`);
    await queryRunner.query(`ALTER TABLE "api"."api_keys" DROP CONSTRAINT "api_keys_tenant_id_fkey"`);
    await queryRunner.query(`ALTER TABLE "api"."api_keys" ADD CONSTRAINT "api_keys_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "api"."tenants" ("id")`);
    await queryRunner.query(`DROP TABLE "api"."sessions"`);
    await queryRunner.query(`DROP TABLE "api"."users"`);
  }
}
