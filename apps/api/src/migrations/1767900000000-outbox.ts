import { outboxTableSql } from '@gureum/messaging';
import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The api's outbox: facts it owns (a tenant deleted) are written in the transaction that makes
 * them true and relayed to JetStream after the commit, never before (libs/messaging).
 */
export class Outbox1767900000000 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    for (const statement of outboxTableSql('api')) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "api"."outbox"`);
  }
}
