import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"metering"';

/**
 * The host a workload was on at each lifecycle fact (the event's `hostId`): metering's
 * placement history, against which usage samples are checked (a sample is accepted only from
 * the node the workload was placed on at the sample's time). Facts stored before this
 * migration have no host: they place nothing.
 */
export class LifecycleHost1796688000000 implements MigrationInterface {
  name = 'LifecycleHost1796688000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE ${S}."lifecycle_events" ADD COLUMN "host_id" text`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE ${S}."lifecycle_events" DROP COLUMN "host_id"`);
  }
}
