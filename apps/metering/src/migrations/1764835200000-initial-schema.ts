import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"metering"';

/** Meters (as data, with the standard ones seeded), raw samples, lifecycle events, allocation segments, hourly rollups. */
export class InitialSchema1764835200000 implements MigrationInterface {
  name = 'InitialSchema1764835200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `CREATE TABLE ${S}."meters" (
        "name" text PRIMARY KEY CHECK ("name" ~ '^[a-z][a-z0-9_]{0,62}$'),
        "unit" text NOT NULL,
        -- sample.<field> (agents' cgroup readings) or lifecycle.<resource> (allocated time)
        "source" text NOT NULL CHECK ("source" IN ('sample.cpu', 'sample.memory', 'sample.memory_peak', 'sample.pids', 'lifecycle.vcpu', 'lifecycle.memory')),
        "aggregation" text NOT NULL CHECK ("aggregation" IN ('SUM', 'MAX', 'AVG', 'LATEST', 'COUNT')),
        "description" text NOT NULL DEFAULT ''
      )`,
      `INSERT INTO ${S}."meters" ("name", "unit", "source", "aggregation", "description") VALUES
        ('cpu_seconds', 'second', 'sample.cpu', 'SUM', 'CPU time used (cgroup counter deltas; a reset or new handle counts from zero)'),
        ('memory_peak_bytes', 'byte', 'sample.memory_peak', 'MAX', 'Highest memory use seen'),
        ('pids', 'count', 'sample.pids', 'MAX', 'Most processes/threads seen at once'),
        ('vcpu_seconds', 'vCPU-second', 'lifecycle.vcpu', 'SUM', 'Allocated CPU (millicores / 1000) x seconds running'),
        ('memory_gib_hours', 'GiB-hour', 'lifecycle.memory', 'SUM', 'Allocated memory (GiB) x hours running')`,
      `CREATE TABLE ${S}."samples" (
        "dedupe_key" text PRIMARY KEY,
        "tenant_id" uuid NOT NULL,
        "workload_id" uuid NOT NULL,
        "node_id" text NOT NULL,
        "handle_id" text NOT NULL,
        "sampled_at" timestamptz NOT NULL,
        "cpu_usage_ns" numeric(30, 0) NOT NULL CHECK ("cpu_usage_ns" >= 0),
        -- Usage since the previous sample of the same workload (by time); recomputed when a late sample lands in between.
        "cpu_delta_ns" numeric(30, 0) NOT NULL DEFAULT 0,
        "memory_bytes" bigint NOT NULL,
        "memory_peak_bytes" bigint,
        "pids" integer NOT NULL,
        "received_at" timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX "samples_workload_time" ON ${S}."samples" ("workload_id", "sampled_at")`,
      `CREATE INDEX "samples_sampled_at" ON ${S}."samples" ("sampled_at")`,
      `CREATE TABLE ${S}."lifecycle_events" (
        "event_id" uuid PRIMARY KEY,
        "stream_seq" bigint NOT NULL,
        "workload_id" uuid NOT NULL,
        "tenant_id" uuid NOT NULL,
        "from_state" text,
        "to_state" text NOT NULL,
        "at" timestamptz NOT NULL,
        "cpu_millis" integer,
        "memory_mib" integer
      )`,
      `CREATE INDEX "lifecycle_events_workload" ON ${S}."lifecycle_events" ("workload_id", "at", "stream_seq")`,
      // Allocated time of one workload cut at hour boundaries: rebuilt from its lifecycle events.
      `CREATE TABLE ${S}."allocation_segments" (
        "workload_id" uuid NOT NULL,
        "started_at" timestamptz NOT NULL,
        "tenant_id" uuid NOT NULL,
        "hour" timestamptz NOT NULL,
        "ended_at" timestamptz NOT NULL CHECK ("ended_at" > "started_at"),
        "seconds" numeric(20, 3) NOT NULL,
        "cpu_millis" integer NOT NULL,
        "memory_mib" integer NOT NULL,
        "open" boolean NOT NULL,
        PRIMARY KEY ("workload_id", "started_at")
      )`,
      `CREATE TABLE ${S}."rollups" (
        "tenant_id" uuid NOT NULL,
        "workload_id" uuid NOT NULL,
        "meter" text NOT NULL REFERENCES ${S}."meters" ("name"),
        "hour" timestamptz NOT NULL CHECK (date_trunc('hour', "hour") = "hour"),
        "quantity" numeric NOT NULL,
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY ("workload_id", "meter", "hour")
      )`,
      `CREATE INDEX "rollups_tenant_hour" ON ${S}."rollups" ("tenant_id", "hour")`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['rollups', 'allocation_segments', 'lifecycle_events', 'samples', 'meters']) await queryRunner.query(`DROP TABLE ${S}."${table}"`);
  }
}
