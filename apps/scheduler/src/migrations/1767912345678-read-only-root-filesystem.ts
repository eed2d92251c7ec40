import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A container workload may ask for a read-only root filesystem (`readOnlyRootFilesystem`,
 * with a writable tmpfs `/tmp` on the agent). A column like `preemptible`: false for every
 * existing workload and every VM; adding a column with a constant default rewrites nothing.
 */
export class ReadOnlyRootFilesystem1767912345678 implements MigrationInterface {
  name = 'ReadOnlyRootFilesystem1767912345678';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" ADD COLUMN "read_only_root_filesystem" boolean NOT NULL DEFAULT false`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."workloads" DROP COLUMN "read_only_root_filesystem"`);
  }
}
