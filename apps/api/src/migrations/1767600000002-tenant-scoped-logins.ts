import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Login names stop being global for users an owner invites. Until now one `UNIQUE (login)`
 * let an owner learn other tenants' logins from the 409 of an invite. Now:
 * - `global` logins (operators, and owners an operator created with their tenant) are unique
 *   among global logins and log in as `<login>`, as before; every existing user is one;
 * - `tenant` logins (invited by an owner) are unique within their tenant only and log in as
 *   `<tenant name>/<login>` (`/` is not allowed in a login, so the form is unambiguous).
 * No two users of one tenant share a login, whatever their scope.
 */
export class TenantScopedLogins1767600000002 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "api"."users" ADD COLUMN "login_scope" text NOT NULL DEFAULT 'global'`);
    await queryRunner.query(`ALTER TABLE "api"."users" ALTER COLUMN "login_scope" DROP DEFAULT`);
    await queryRunner.query(`ALTER TABLE "api"."users" ADD CONSTRAINT "users_login_scope_valid" CHECK ("login_scope" IN ('global', 'tenant'))`);
    await queryRunner.query(`ALTER TABLE "api"."users" ADD CONSTRAINT "users_operator_login_global" CHECK ("tenant_id" IS NOT NULL OR "login_scope" = 'global')`);
    await queryRunner.query(`ALTER TABLE "api"."users" DROP CONSTRAINT "users_login_key"`);
    await queryRunner.query(`CREATE UNIQUE INDEX "users_global_login_key" ON "api"."users" ("login") WHERE "login_scope" = 'global'`);
    await queryRunner.query(`CREATE UNIQUE INDEX "users_tenant_login_key" ON "api"."users" ("tenant_id", "login") WHERE "tenant_id" IS NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "api"."users_tenant_login_key"`);
    await queryRunner.query(`DROP INDEX "api"."users_global_login_key"`);
    await queryRunner.query(`ALTER TABLE "api"."users" ADD CONSTRAINT "users_login_key" UNIQUE ("login")`);
    await queryRunner.query(`ALTER TABLE "api"."users" DROP CONSTRAINT "users_operator_login_global"`);
    await queryRunner.query(`ALTER TABLE "api"."users" DROP CONSTRAINT "users_login_scope_valid"`);
    await queryRunner.query(`ALTER TABLE "api"."users" DROP COLUMN "login_scope"`);
  }
}
