import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"metering"';

/** Every source a meter may name; `sample.*` from agents, `lifecycle.*` from workload state facts, `registry.*` from the registry. */
const SOURCES = [
  'sample.cpu',
  'sample.memory',
  'sample.memory_peak',
  'sample.pids',
  'sample.net_rx',
  'sample.net_tx',
  'sample.blk_read',
  'sample.blk_write',
  'lifecycle.vcpu',
  'lifecycle.memory',
  'registry.storage',
];

/**
 * Network and block-I/O byte counters on samples (with their per-sample deltas, like CPU),
 * registry storage samples, and rollups that belong to a tenant rather than a workload
 * (registry storage): `workload_id` becomes nullable with one unique key per kind of row.
 */
export class IoCountersAndRegistryStorage1767319517234 implements MigrationInterface {
  name = 'IoCountersAndRegistryStorage1767319517234';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `ALTER TABLE ${S}."samples"
         ADD COLUMN "net_rx_bytes" numeric(30, 0) CHECK ("net_rx_bytes" >= 0),
         ADD COLUMN "net_tx_bytes" numeric(30, 0) CHECK ("net_tx_bytes" >= 0),
         ADD COLUMN "blk_read_bytes" numeric(30, 0) CHECK ("blk_read_bytes" >= 0),
         ADD COLUMN "blk_write_bytes" numeric(30, 0) CHECK ("blk_write_bytes" >= 0),
         ADD COLUMN "net_rx_delta" numeric(30, 0) NOT NULL DEFAULT 0,
         ADD COLUMN "net_tx_delta" numeric(30, 0) NOT NULL DEFAULT 0,
         ADD COLUMN "blk_read_delta" numeric(30, 0) NOT NULL DEFAULT 0,
         ADD COLUMN "blk_write_delta" numeric(30, 0) NOT NULL DEFAULT 0`,
      `ALTER TABLE ${S}."meters" DROP CONSTRAINT "meters_source_check"`,
      `ALTER TABLE ${S}."meters" ADD CONSTRAINT "meters_source_check" CHECK ("source" IN (${SOURCES.map((s) => `'${s}'`).join(', ')}))`,
      // Dotted names (`registry.storage.gib_hours`) are allowed from now on.
      `ALTER TABLE ${S}."meters" DROP CONSTRAINT "meters_name_check"`,
      `ALTER TABLE ${S}."meters" ADD CONSTRAINT "meters_name_check" CHECK ("name" ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$' AND length("name") <= 63)`,
      `INSERT INTO ${S}."meters" ("name", "unit", "source", "aggregation", "description") VALUES
        ('network_rx_bytes', 'byte', 'sample.net_rx', 'SUM', 'Bytes received on the task''s own network interfaces, loopback excluded (counter deltas)'),
        ('network_tx_bytes', 'byte', 'sample.net_tx', 'SUM', 'Bytes sent on the task''s own network interfaces, loopback excluded (counter deltas)'),
        ('block_read_bytes', 'byte', 'sample.blk_read', 'SUM', 'Bytes read from block devices by the task''s cgroup (counter deltas)'),
        ('block_write_bytes', 'byte', 'sample.blk_write', 'SUM', 'Bytes written to block devices by the task''s cgroup (counter deltas)'),
        ('registry.storage.gib_hours', 'GiB-hour', 'registry.storage', 'SUM', 'Registry bytes stored per tenant, held from each sample to the next, in GiB x hours')`,
      `CREATE TABLE ${S}."registry_storage_samples" (
        "tenant_id" uuid NOT NULL,
        "sample_id" text NOT NULL,
        "repository" text NOT NULL,
        "bytes" bigint NOT NULL CHECK ("bytes" >= 0),
        "at" timestamptz NOT NULL,
        "stream_seq" bigint NOT NULL,
        "received_at" timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY ("tenant_id", "sample_id")
      )`,
      `CREATE INDEX "registry_storage_samples_repository_at" ON ${S}."registry_storage_samples" ("tenant_id", "repository", "at")`,
      `ALTER TABLE ${S}."rollups" DROP CONSTRAINT "rollups_pkey"`,
      `ALTER TABLE ${S}."rollups" ALTER COLUMN "workload_id" DROP NOT NULL`,
      `CREATE UNIQUE INDEX "rollups_workload_meter_hour" ON ${S}."rollups" ("workload_id", "meter", "hour") WHERE "workload_id" IS NOT NULL`,
      `CREATE UNIQUE INDEX "rollups_tenant_meter_hour" ON ${S}."rollups" ("tenant_id", "meter", "hour") WHERE "workload_id" IS NULL`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `DELETE FROM ${S}."rollups" WHERE "workload_id" IS NULL OR "meter" IN ('network_rx_bytes', 'network_tx_bytes', 'block_read_bytes', 'block_write_bytes')`,
      `DROP INDEX ${S}."rollups_tenant_meter_hour"`,
      `DROP INDEX ${S}."rollups_workload_meter_hour"`,
      `ALTER TABLE ${S}."rollups" ALTER COLUMN "workload_id" SET NOT NULL`,
      `ALTER TABLE ${S}."rollups" ADD PRIMARY KEY ("workload_id", "meter", "hour")`,
      `DROP TABLE ${S}."registry_storage_samples"`,
      `DELETE FROM ${S}."meters" WHERE "source" IN ('sample.net_rx', 'sample.net_tx', 'sample.blk_read', 'sample.blk_write', 'registry.storage')`,
      `ALTER TABLE ${S}."meters" DROP CONSTRAINT "meters_name_check"`,
      `ALTER TABLE ${S}."meters" ADD CONSTRAINT "meters_name_check" CHECK ("name" ~ '^[a-z][a-z0-9_]{0,62}$')`,
      `ALTER TABLE ${S}."meters" DROP CONSTRAINT "meters_source_check"`,
      `ALTER TABLE ${S}."meters" ADD CONSTRAINT "meters_source_check" CHECK ("source" IN ('sample.cpu', 'sample.memory', 'sample.memory_peak', 'sample.pids', 'lifecycle.vcpu', 'lifecycle.memory'))`,
      `ALTER TABLE ${S}."samples" DROP COLUMN "net_rx_bytes", DROP COLUMN "net_tx_bytes", DROP COLUMN "blk_read_bytes", DROP COLUMN "blk_write_bytes",
         DROP COLUMN "net_rx_delta", DROP COLUMN "net_tx_delta", DROP COLUMN "blk_read_delta", DROP COLUMN "blk_write_delta"`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }
}
