/**
 * Issue 20 hole 6, "agents can bill anyone", on the built system with the agents' real NATS
 * credentials: whoever holds a node's credentials (a compromised agent) publishes usage
 * samples. Metering must bill a sample only for a workload placed on that node at the sample's
 * time, for the workload's own tenant — never for a workload on another node, a workload that
 * does not exist, or another tenant; and NATS itself must stop a node from speaking for another.
 */
import { randomUUID } from 'node:crypto';
import { headers } from '@nats-io/transport-node';
import type { UsageSample } from '@gureum/contracts';
import { connectNats, type NatsConnection } from '@gureum/messaging';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Workload } from '../support/api-client';
import { System, type TenantCredentials } from '../support/system';

// Short holds: a sample no placement covers is decided within ~2 s instead of ~2 minutes.
const system = new System({
  label: 'security-metering',
  agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 },
  metering: { sampleMs: 1000, env: { GUREUM_METERING_PLACEMENT_HOLD_MS: '500', GUREUM_METERING_PLACEMENT_MAX_DELIVERIES: '4' } },
  // Its credentials only: "another node", never started.
  extraAgents: 1,
});
let victim: TenantCredentials;
let bystander: TenantCredentials;
let victimApi: ApiClient;
let bystanderApi: ApiClient;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  victim = await system.createTenant('billed');
  bystander = await system.createTenant('bystander');
  victimApi = new ApiClient(system.apiUrl, victim.apiKey);
  bystanderApi = new ApiClient(system.apiUrl, bystander.apiKey);
}, 180_000);

afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => undefined);
  await system.stop();
}, 60_000);

async function connectAs(nodeId: string): Promise<NatsConnection> {
  const creds = system.agentNatsCredentials(nodeId);
  const nc = await connectNats({ url: creds.url, user: creds.user, password: creds.password, inboxPrefix: creds.inboxPrefix, name: `forger-${nodeId}` });
  connections.push(nc);
  return nc;
}

/** What an agent does: a core publish on a node subject with the sample id as Nats-Msg-Id. */
function publish(nc: NatsConnection, subjectNode: string, sample: UsageSample): void {
  const h = headers();
  h.set('Nats-Msg-Id', `${subjectNode}/${sample.sampleId}`);
  nc.publish(`agent.${subjectNode}.evt.usage.v1`, JSON.stringify(sample), { headers: h });
}

function forged(nodeId: string, workloadId: string, tenantId: string, cpuSeconds: number, handleId: string): UsageSample {
  const at = Date.now();
  return {
    sampleId: `${workloadId}/${handleId}/${at}`,
    nodeId,
    workloadId,
    tenantId,
    handleId,
    sampledAt: new Date(at).toISOString(),
    cpuUsageNs: `${cpuSeconds}000000000`,
    memoryBytes: 1_000_000,
    memoryPeakBytes: 1_000_000,
    pids: 1,
  };
}

/** The error a connection reports for the next permission violation. */
function nextViolation(nc: NatsConnection): Promise<string> {
  return (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error') return String((status as { error?: unknown }).error);
    }
    return 'closed';
  })();
}

type Refusal = { nodeId: string; workloadId: string; tenantId: string; sampledAt: string; reason: string };

/** The refusals metering logged so far (its `usage samples refused` lines, examples). */
async function refusals(): Promise<Refusal[]> {
  const out: Refusal[] = [];
  for (const line of (await system.readLogs()).split('\n')) {
    if (!line.includes('usage samples refused')) continue;
    const entry = JSON.parse(line) as { examples?: Refusal[] };
    out.push(...(entry.examples ?? []));
  }
  return out;
}

async function storedSample(nodeId: string, sampleId: string): Promise<boolean> {
  const { rows } = await system.query<{ n: number }>(`SELECT count(*)::int AS n FROM metering.samples WHERE dedupe_key = $1`, [`${nodeId}/${sampleId}`]);
  return rows[0]?.n === 1;
}

async function cpuSeconds(client: ApiClient, workloadId: string): Promise<number> {
  const from = new Date(Date.now() - 2 * 3_600_000).toISOString();
  const to = new Date(Date.now() + 3_600_000).toISOString();
  const res = await client.call<{ rows: Array<{ meter: string; workloadId: string | null; quantity: string }> }>('GET', `/v1/usage?from=${from}&to=${to}&groupBy=workload&granularity=hour`);
  expect(res.status).toBe(200);
  return res.body.rows.filter((row) => row.workloadId === workloadId && row.meter === 'cpu_seconds').reduce((sum, row) => sum + Number(row.quantity), 0);
}

it('bills a forged sample only for a workload on the sending node, for its tenant; refuses another node, a workload that does not exist and another tenant', async () => {
  const created = await victimApi.createWorkload(containerSpec('billed', { command: ['sleep', '3600'] }));
  expect(created.status).toBe(201);
  const workloadId = created.body.id;
  const running = await waitFor(
    async () => {
      const res = await victimApi.getWorkload(workloadId);
      return res.status === 200 && res.body.state === 'running' ? res.body : undefined;
    },
    { timeoutMs: 30_000, what: 'the workload running' },
  );
  expect((running as Workload).hostId).toBe(system.nodeId);

  const home = await connectAs(system.nodeId); // the node the workload runs on
  const elsewhere = await connectAs(system.extraNodeIds[0] as string); // a node it never ran on
  const otherNode = system.extraNodeIds[0] as string;

  // 36,000 CPU-seconds ($36 at the rate) each, which would show in any total.
  const fromElsewhere = forged(otherNode, workloadId, victim.id, 36_000, 'forged-elsewhere');
  const ghostId = randomUUID();
  const ghost = forged(system.nodeId, ghostId, victim.id, 36_000, 'forged-ghost');
  const wrongTenant = forged(system.nodeId, workloadId, bystander.id, 36_000, 'forged-tenant');
  const rightOne = forged(system.nodeId, workloadId, victim.id, 7, 'forged-right');
  publish(elsewhere, otherNode, fromElsewhere);
  publish(home, system.nodeId, ghost);
  publish(home, system.nodeId, wrongTenant);
  publish(home, system.nodeId, rightOne);
  await Promise.all([home.flush(), elsewhere.flush()]);

  // The right one (the workload's own node, its own tenant) is billed…
  await waitFor(async () => ((await storedSample(system.nodeId, rightOne.sampleId)) ? true : undefined), { timeoutMs: 30_000, what: 'the sample from the workload’s own node stored' });
  // …and the others are refused, each for its reason.
  await waitFor(
    async () => {
      const seen = await refusals();
      const reasonOf = (nodeId: string, id: string, tenantId: string) => seen.find((r) => r.nodeId === nodeId && r.workloadId === id && r.tenantId === tenantId)?.reason;
      const reasons = [reasonOf(otherNode, workloadId, victim.id), reasonOf(system.nodeId, ghostId, victim.id), reasonOf(system.nodeId, workloadId, bystander.id)];
      return reasons.every((reason) => reason !== undefined) ? reasons : undefined;
    },
    { timeoutMs: 30_000, what: 'three refusals logged' },
  ).then((reasons) => expect(reasons).toEqual(['not_placed_on_node', 'unknown_workload', 'tenant_mismatch']));
  for (const [nodeId, sample] of [
    [otherNode, fromElsewhere],
    [system.nodeId, ghost],
    [system.nodeId, wrongTenant],
  ] as const) {
    expect(await storedSample(nodeId, sample.sampleId)).toBe(false);
  }

  // What the tenants see: the victim's CPU total holds the 7 forged seconds from its own node and nothing of the 36,000s; the bystander has nothing.
  await waitFor(async () => ((await cpuSeconds(victimApi, workloadId)) >= 7 ? true : undefined), { timeoutMs: 30_000, what: 'the billed sample in the usage' });
  expect(await cpuSeconds(victimApi, workloadId)).toBeLessThan(36_000);
  expect(await cpuSeconds(victimApi, ghostId)).toBe(0);
  expect(await cpuSeconds(bystanderApi, workloadId)).toBe(0);
  const { rows } = await system.query<{ n: number }>(`SELECT count(*)::int AS n FROM metering.rollups WHERE tenant_id = $1 OR workload_id = $2`, [bystander.id, ghostId]);
  expect(rows[0]?.n).toBe(0);
});

it('a node cannot speak for another: NATS refuses its publish on another node’s subject, metering another node’s id in the payload', async () => {
  const otherNode = system.extraNodeIds[0] as string;
  const forger = await connectAs(otherNode);
  const workloadId = randomUUID();
  const violation = nextViolation(forger);
  publish(forger, system.nodeId, forged(system.nodeId, workloadId, victim.id, 36_000, 'forged-subject'));
  expect(await violation).toMatch(new RegExp(`Permissions Violation for Publish to "agent\\.${system.nodeId}\\.evt\\.usage\\.v1"`));
  // Registry storage is the registry's to report (through the control plane's outbox), not an agent's.
  const registryViolation = nextViolation(forger);
  forger.publish('evt.registry.storage.v1', JSON.stringify({ tenantId: victim.id }));
  expect(await registryViolation).toMatch(/Permissions Violation for Publish to "evt\.registry\.storage\.v1"/);

  // On its own subject, claiming the other node in the payload: terminated before any check.
  const mismatches = async () => (await system.readLogs()).split('node id does not match its subject').length - 1;
  const before = await mismatches();
  const claimed = forged(system.nodeId, workloadId, victim.id, 36_000, 'forged-claim');
  const h = headers();
  h.set('Nats-Msg-Id', `${otherNode}/${claimed.sampleId}`);
  const honest = await connectAs(otherNode);
  honest.publish(`agent.${otherNode}.evt.usage.v1`, JSON.stringify(claimed), { headers: h });
  await honest.flush();
  await waitFor(async () => ((await mismatches()) > before ? true : undefined), { timeoutMs: 30_000, what: 'the mismatch terminated' });
  expect(await storedSample(otherNode, claimed.sampleId)).toBe(false);
});
