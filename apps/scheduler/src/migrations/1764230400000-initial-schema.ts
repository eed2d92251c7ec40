import { WORKLOAD_STATES } from '@gureum/contracts';
import { outboxTableSql } from '@gureum/messaging';
import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"scheduler"';
const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/** Hosts, workloads, claims, workload history and the outbox. */
export class InitialSchema1764230400000 implements MigrationInterface {
  name = 'InitialSchema1764230400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `CREATE TABLE ${S}."hosts" (
        "id" text PRIMARY KEY CHECK ("id" ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
        "state" text NOT NULL CHECK ("state" IN ('ready', 'lost')),
        "drivers" text[] NOT NULL DEFAULT '{}',
        "labels" jsonb NOT NULL DEFAULT '{}',
        "capacity_cpu_millis" integer NOT NULL CHECK ("capacity_cpu_millis" >= 0),
        "capacity_memory_mib" integer NOT NULL CHECK ("capacity_memory_mib" >= 0),
        "capacity_pids" integer NOT NULL CHECK ("capacity_pids" >= 0),
        -- No "allocated <= capacity" check: a heartbeat may report a capacity that shrank
        -- below what is already claimed; placement then simply finds no room there.
        "allocated_cpu_millis" integer NOT NULL DEFAULT 0 CHECK ("allocated_cpu_millis" >= 0),
        "allocated_memory_mib" integer NOT NULL DEFAULT 0 CHECK ("allocated_memory_mib" >= 0),
        "allocated_pids" integer NOT NULL DEFAULT 0 CHECK ("allocated_pids" >= 0),
        "images" text[] NOT NULL DEFAULT '{}',
        "boot_id" uuid NOT NULL,
        "last_heartbeat_at" timestamptz NOT NULL,
        "generation" integer NOT NULL DEFAULT 0,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`,
      // The host monitor's sweep: ready hosts by heartbeat age.
      `CREATE INDEX "hosts_ready_by_heartbeat" ON ${S}."hosts" ("last_heartbeat_at") WHERE "state" = 'ready'`,
      // "Which hosts have this image" (images @> ARRAY[...]) at create and placement time.
      `CREATE INDEX "hosts_images" ON ${S}."hosts" USING gin ("images")`,

      `CREATE TABLE ${S}."workloads" (
        "id" uuid PRIMARY KEY,
        "tenant_id" uuid NOT NULL,
        "name" text NOT NULL,
        "kind" text NOT NULL CHECK ("kind" IN ('container', 'vm')),
        "image" text NOT NULL,
        "command" jsonb,
        "env" jsonb,
        "cpu_millis" integer NOT NULL CHECK ("cpu_millis" > 0),
        "memory_mib" integer NOT NULL CHECK ("memory_mib" > 0),
        "pids" integer NOT NULL CHECK ("pids" > 0),
        "state" text NOT NULL CHECK ("state" IN (${list(WORKLOAD_STATES)})),
        "desired_state" text NOT NULL CHECK ("desired_state" IN ('running', 'stopped', 'deleted')),
        "reason" text,
        "exit_code" integer,
        "host_id" text REFERENCES ${S}."hosts" ("id"),
        "generation" integer NOT NULL DEFAULT 0,
        "idempotency_key" text,
        "created_at" timestamptz(3) NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        "deleted_at" timestamptz,
        CONSTRAINT "workloads_tenant_idempotency_key" UNIQUE ("tenant_id", "idempotency_key"),
        CONSTRAINT "workloads_deleted_at_iff_deleted" CHECK (("state" = 'deleted') = ("deleted_at" IS NOT NULL))
      )`,
      // Tenant listing, keyset-paginated on (created_at, id).
      `CREATE INDEX "workloads_by_tenant" ON ${S}."workloads" ("tenant_id", "created_at", "id")`,
      // The placement loop: pending workloads, oldest first.
      `CREATE INDEX "workloads_pending" ON ${S}."workloads" ("created_at", "id") WHERE "state" = 'pending'`,
      // Assignments, reports and the host monitor: live workloads of one host.
      `CREATE INDEX "workloads_by_host" ON ${S}."workloads" ("host_id") WHERE "state" <> 'deleted'`,

      `CREATE TABLE ${S}."claims" (
        "workload_id" uuid PRIMARY KEY REFERENCES ${S}."workloads" ("id"),
        "host_id" text NOT NULL REFERENCES ${S}."hosts" ("id"),
        "cpu_millis" integer NOT NULL CHECK ("cpu_millis" > 0),
        "memory_mib" integer NOT NULL CHECK ("memory_mib" > 0),
        "pids" integer NOT NULL CHECK ("pids" > 0),
        "created_at" timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX "claims_by_host" ON ${S}."claims" ("host_id")`,

      `CREATE TABLE ${S}."workload_events" (
        "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        "event_id" uuid NOT NULL UNIQUE,
        "workload_id" uuid NOT NULL REFERENCES ${S}."workloads" ("id"),
        "from_state" text,
        "to_state" text NOT NULL,
        "reason" text,
        "at" timestamptz NOT NULL DEFAULT clock_timestamp()
      )`,
      `CREATE INDEX "workload_events_by_workload" ON ${S}."workload_events" ("workload_id", "id")`,

      ...outboxTableSql('scheduler'),
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['outbox', 'workload_events', 'claims', 'workloads', 'hosts']) {
      await queryRunner.query(`DROP TABLE ${S}."${table}"`);
    }
  }
}
