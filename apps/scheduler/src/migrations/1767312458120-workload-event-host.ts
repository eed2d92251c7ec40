import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A workload's history shows where each transition happened (the admin console's event list,
 * drains and migrations). The host is copied from the workload row by a trigger rather than
 * by each writer: every path that records a transition (creates, reports, drains, migrations,
 * suspensions) gets it without having to remember, and `recordTransition` runs right after the
 * workload row was updated, so the row holds the host of the state just entered.
 */
export class WorkloadEventHost1767312458120 implements MigrationInterface {
  name = 'WorkloadEventHost1767312458120';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scheduler"."workload_events" ADD COLUMN "host_id" text`);
    await queryRunner.query(`
      CREATE FUNCTION "scheduler"."workload_event_host"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW."host_id" IS NULL THEN
          SELECT "host_id" INTO NEW."host_id" FROM "scheduler"."workloads" WHERE "id" = NEW."workload_id";
        END IF;
        RETURN NEW;
      END
      $$`);
    await queryRunner.query(`
      CREATE TRIGGER "workload_events_host" BEFORE INSERT ON "scheduler"."workload_events"
      FOR EACH ROW EXECUTE FUNCTION "scheduler"."workload_event_host"()`);
    // Older rows: the best known answer is where the workload is (or last was) placed.
    await queryRunner.query(`
      UPDATE "scheduler"."workload_events" e SET "host_id" = w."host_id"
      FROM "scheduler"."workloads" w WHERE w."id" = e."workload_id" AND e."host_id" IS NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "workload_events_host" ON "scheduler"."workload_events"`);
    await queryRunner.query(`DROP FUNCTION "scheduler"."workload_event_host"()`);
    await queryRunner.query(`ALTER TABLE "scheduler"."workload_events" DROP COLUMN "host_id"`);
  }
}
