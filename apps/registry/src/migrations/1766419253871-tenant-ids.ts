import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = 'registry';

/**
 * The tenant id behind each namespace, for metering: storage samples carry it. The registry
 * learns it from the token of the first push into the namespace (the api's credential
 * verification names the principal's tenant); namespaces only operators pushed into have none.
 */
export class TenantIds1766419253871 implements MigrationInterface {
  name = 'TenantIds1766419253871';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE "${S}"."tenant_storage" ADD COLUMN "tenant_id" uuid`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE "${S}"."tenant_storage" DROP COLUMN "tenant_id"`);
  }
}
