import { randomUUID } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '@gureum/testing';
import { Client } from 'pg';
import { migrateSchedulerDatabase } from '../database/scheduler-data-source';
import { writeBatchStatement, type SettledMember } from './create-batch-statements';

/**
 * How PostgreSQL runs a batch's write on a fleet of some size: the rows it updates are found
 * by index, not by reading every host or usage row (the planner guesses 100 rows for a CTE, so
 * a join to one alone scanned the whole table: 30% of the statement at 10,000 hosts).
 */

let database: TestDatabase;
let db: Client;

beforeAll(async () => {
  database = await createTestDatabase('scheduler_batch_statements');
  await migrateSchedulerDatabase(database.url);
  db = new Client({ connectionString: database.url });
  await db.connect();
  await db.query(
    `INSERT INTO scheduler.hosts ("id", "state", "drivers", "capacity_cpu_millis", "capacity_memory_mib", "capacity_pids", "images", "boot_id", "last_heartbeat_at")
     SELECT 'host-' || lpad(i::text, 5, '0'), 'ready', ARRAY['docker'], 16000, 65536, 32768, ARRAY['gureum/plan:1'], gen_random_uuid(), now()
       FROM generate_series(0, 4999) i`,
  );
  await db.query(`INSERT INTO scheduler.quota_usage ("tenant_id") SELECT gen_random_uuid() FROM generate_series(1, 5000)`);
  await db.query('ANALYZE');
}, 60_000);

afterAll(async () => {
  await db?.end();
  await database?.drop();
});

function member(hostId: string, tenantId: string): SettledMember {
  const id = randomUUID();
  const eventId = randomUUID();
  return {
    id,
    tenant_id: tenantId,
    name: `w-${id.slice(0, 8)}`,
    kind: 'container',
    image: 'gureum/plan:1',
    command: null,
    env: null,
    cpu_millis: 100,
    memory_mib: 64,
    pids: 8,
    idempotency_key: null,
    placement: null,
    priority: 0,
    preemptible: false,
    read_only_root_filesystem: false,
    vm: null,
    host_id: hostId,
    claim_cpu_millis: 100,
    claim_memory_mib: 64,
    claim_pids: 8,
    quota_cpu_millis: 100,
    quota_memory_mib: 64,
    quota_pids: 8,
    quota_workloads: 1,
    quota_vms: 0,
    event_id: eventId,
    payload: { eventId, workloadId: id, tenantId, hostId, from: null, to: 'scheduled', reason: null, generation: 0, at: new Date().toISOString(), resources: { cpuMillis: 100, memoryMiB: 64, pids: 8 } },
  };
}

it('finds the hosts and usage rows it updates by index, and writes what it was given', async () => {
  const tenants = (await db.query<{ tenant_id: string }>(`SELECT "tenant_id" FROM scheduler.quota_usage ORDER BY "tenant_id" LIMIT 2`)).rows.map((row) => row.tenant_id);
  const members = [member('host-00007', tenants[0]!), member('host-00007', tenants[1]!), member('host-04242', tenants[0]!)];
  const write = writeBatchStatement(members);
  await db.query('BEGIN');
  try {
    const plan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF) ${write.text}`, write.values)).rows.map((row) => row['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/Index Scan using hosts_pkey on hosts h/);
    expect(plan).not.toMatch(/Seq Scan on hosts/);
    expect(plan).not.toMatch(/Seq Scan on quota_usage/);
    // EXPLAIN ANALYZE ran it: the allocation and the charges are those of the three members.
    const hosts = await db.query(`SELECT "id", "allocated_cpu_millis", "generation" FROM scheduler.hosts WHERE "allocated_cpu_millis" > 0 ORDER BY "id"`);
    expect(hosts.rows).toEqual([
      { id: 'host-00007', allocated_cpu_millis: 200, generation: 2 },
      { id: 'host-04242', allocated_cpu_millis: 100, generation: 1 },
    ]);
    const usage = await db.query(`SELECT "tenant_id", "workloads", "cpu_millis"::int AS "cpu_millis" FROM scheduler.quota_usage WHERE "workloads" > 0 ORDER BY "tenant_id"`);
    expect(usage.rows).toEqual([
      { tenant_id: tenants[0], workloads: 2, cpu_millis: 200 },
      { tenant_id: tenants[1], workloads: 1, cpu_millis: 100 },
    ]);
  } finally {
    await db.query('ROLLBACK');
  }
});
