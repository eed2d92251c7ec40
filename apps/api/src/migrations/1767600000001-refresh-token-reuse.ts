import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Refresh tokens a session has rotated away from. Presenting one again is reuse (a stolen
 * token, or the legitimate client after a thief refreshed first): the whole session — its
 * current access and refresh tokens — is revoked (OAuth 2.0 Security BCP, refresh token
 * rotation). Rows go with their session.
 */
export class RefreshTokenReuse1767600000001 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE "api"."retired_refresh_tokens" (
        "digest" text PRIMARY KEY,
        "session_id" uuid NOT NULL REFERENCES "api"."sessions" ("id") ON DELETE CASCADE,
        "retired_at" timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX "retired_refresh_tokens_session" ON "api"."retired_refresh_tokens" ("session_id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "api"."retired_refresh_tokens"`);
  }
}
