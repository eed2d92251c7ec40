import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = 'registry';

/**
 * Bytes an upload session holds against its tenant's storage quota beyond what it has
 * written (`offset`): reserved under the tenant's usage row lock before they are accepted,
 * released when the chunk ends, the session is cancelled, completed or expires.
 */
export class UploadReservations1796700000000 implements MigrationInterface {
  name = 'UploadReservations1796700000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE "${S}"."uploads" ADD COLUMN "reserved_bytes" bigint NOT NULL DEFAULT 0`);
    await runner.query(`ALTER TABLE "${S}"."uploads" ADD COLUMN "namespace" text`);
    await runner.query(`UPDATE "${S}"."uploads" SET "namespace" = split_part("repository_name", '/', 1)`);
    await runner.query(`ALTER TABLE "${S}"."uploads" ALTER COLUMN "namespace" SET NOT NULL`);
    await runner.query(`CREATE INDEX "uploads_namespace" ON "${S}"."uploads" ("namespace")`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DROP INDEX "${S}"."uploads_namespace"`);
    await runner.query(`ALTER TABLE "${S}"."uploads" DROP COLUMN "namespace"`);
    await runner.query(`ALTER TABLE "${S}"."uploads" DROP COLUMN "reserved_bytes"`);
  }
}
