import { randomBytes, randomUUID } from 'node:crypto';
import { jetstream, type JsMsg } from '@nats-io/jetstream';
import { EVENTS_STREAM, RegistryStorageSampleSchema, type Principal, type RegistryStorageSample } from '@gureum/contracts';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@gureum/testing';
import { OciClient } from './testing/oci-client';
import { startRegistryUnderTest, type RegistryUnderTest } from './testing/registry-under-test';

/**
 * `evt.registry.storage.v1`: per-repository storage samples for metering, read back from
 * JetStream as the metering service would, against the registry in-process with real
 * PostgreSQL and nats-server. The timer runs every second here.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let database: TestDatabase;
let nats: TestNats;
let registry: RegistryUnderTest;

function apiKey(): string {
  return `grm_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
}

/** One tenant id per tenant name (a namespace belongs to one tenant id). */
const tenantIds = new Map<string, string>();

function tenant(tenantName: string | null, role: Principal['role'] = 'owner'): { client: OciClient; tenantId: string | null } {
  const key = apiKey();
  const tenantId = tenantName ? (tenantIds.get(tenantName) ?? randomUUID()) : null;
  if (tenantName && tenantId) tenantIds.set(tenantName, tenantId);
  registry.identity.add(key, { principalId: `key-${randomUUID().slice(0, 8)}`, kind: 'api_key', tenantId, tenantName, role });
  return { client: new OciClient(registry.url, { username: tenantName ?? 'ops', password: key }), tenantId };
}

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('registry_samples'), startNats()]);
  registry = await startRegistryUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, storageSampleSeconds: 1, gcGraceSeconds: 0 });
});

afterAll(async () => {
  await registry?.close();
  await nats?.stop();
  await database?.drop();
});

/** Pushes config + layers + manifest; returns the bytes that became stored (distinct blobs and the manifest). */
async function pushImage(client: OciClient, name: string, tag: string, layers: Buffer[]): Promise<{ bytes: number; manifestDigest: string }> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomUUID() }));
  const configDigest = await client.pushBlob(name, config);
  const descriptors = [];
  for (const layer of layers) descriptors.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await client.pushBlob(name, layer), size: layer.length });
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length }, layers: descriptors }),
  );
  const response = await client.pushManifest(name, tag, manifest, OCI_MANIFEST);
  expect(response.status).toBe(201);
  return { bytes: config.length + layers.reduce((sum, layer) => sum + layer.length, 0) + manifest.length, manifestDigest: response.headers.get('docker-content-digest') as string };
}

interface Received {
  sample: RegistryStorageSample;
  msgId: string | undefined;
}

/** Reads the whole events stream from the start and returns the storage samples in it. */
async function readSamples(): Promise<Received[]> {
  const js = jetstream(registry.nc);
  const consumer = await js.consumers.get(EVENTS_STREAM);
  const found: Received[] = [];
  for (;;) {
    const message: JsMsg | null = await consumer.next({ expires: 1000 });
    if (!message) break;
    if (message.subject === 'evt.registry.storage.v1') found.push({ sample: RegistryStorageSampleSchema.parse(message.json()), msgId: message.headers?.get('Nats-Msg-Id') });
    if (message.info.pending === 0) break;
  }
  return found;
}

/** Waits until a sample matching `match` has been published. */
async function waitForSample(match: (sample: RegistryStorageSample) => boolean): Promise<Received[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const samples = await readSamples();
    if (samples.some((received) => match(received.sample))) return samples;
    if (Date.now() > deadline) throw new Error(`no matching storage sample among ${samples.length}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('storage samples (evt.registry.storage.v1)', () => {
  it('publishes a sample per tenant repository after a push, with the tenant id from its token and Nats-Msg-Id = sampleId', async () => {
    const acme = tenant('acme');
    const pushed = await pushImage(acme.client, 'acme/app', 'v1', [randomBytes(1000), randomBytes(2000)]);
    const samples = await waitForSample((sample) => sample.repository === 'acme/app' && sample.bytes === pushed.bytes);
    const mine = samples.filter((received) => received.sample.repository === 'acme/app');
    for (const received of mine) {
      expect(received.sample).toEqual(expect.objectContaining({ tenantId: acme.tenantId, tenantName: 'acme', repository: 'acme/app' }));
      expect(received.sample.sampleId).toBe(`acme/app@${received.sample.at}`);
      expect(received.msgId).toBe(received.sample.sampleId);
    }
    const [row] = (await registry.db.query(`SELECT tenant_id FROM registry.tenant_storage WHERE namespace = 'acme'`)).rows;
    expect(row.tenant_id).toBe(acme.tenantId);
  });

  it('keeps sampling on the timer, and samples add up to the tenant usage when repositories share a layer', async () => {
    const globex = tenant('globex');
    const shared = randomBytes(5000);
    const first = await pushImage(globex.client, 'globex/one', 'v1', [shared]);
    const second = await pushImage(globex.client, 'globex/two', 'v1', [shared, randomBytes(700)]);
    const usage = await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'globex', quotaBytes: null });
    // The shared layer is stored (and counted) once, in the repository that linked it first.
    expect(usage.usedBytes).toBe(first.bytes + second.bytes - shared.length);

    const before = new Date().toISOString();
    const samples = await waitForSample((sample) => sample.repository === 'globex/two' && sample.at > before);
    const latest = (repository: string) =>
      samples
        .map((received) => received.sample)
        .filter((sample) => sample.repository === repository && sample.at > before)
        .at(-1);
    const one = latest('globex/one');
    const two = latest('globex/two');
    expect(one?.bytes).toBe(first.bytes);
    expect(two?.bytes).toBe(second.bytes - shared.length);
    expect((one?.bytes ?? 0) + (two?.bytes ?? 0)).toBe(usage.usedBytes);
    // The timer keeps producing distinct samples of the same repository, with no push in between.
    const later = await waitForSample((sample) => sample.repository === 'globex/one' && sample.at > one!.at);
    const laterOne = later.map((received) => received.sample).filter((sample) => sample.repository === 'globex/one' && sample.at > one!.at);
    expect(laterOne.every((sample) => sample.bytes === first.bytes)).toBe(true);
    expect(new Set(later.filter((received) => received.sample.repository === 'globex/one').map((received) => received.sample.sampleId)).size).toBeGreaterThan(1);
  });

  it('reports the bytes freed after a delete and garbage collection', async () => {
    const initech = tenant('initech');
    const image = await pushImage(initech.client, 'initech/tmp', 'v1', [randomBytes(4000)]);
    await waitForSample((sample) => sample.repository === 'initech/tmp' && sample.bytes === image.bytes);
    expect((await initech.client.request('DELETE', `/v2/initech/tmp/manifests/${image.manifestDigest}`)).status).toBe(202);
    const report = await registry.control.request('registry.cmd.gc.run.v1', { gracePeriodSeconds: 0 });
    expect(report.linksDeleted).toBeGreaterThanOrEqual(3);
    await waitForSample((sample) => sample.repository === 'initech/tmp' && sample.bytes === 0 && sample.tenantId === initech.tenantId);
  });

  it('publishes nothing for a namespace no tenant has pushed into (operators only)', async () => {
    const operator = tenant(null, 'operator');
    await pushImage(operator.client, 'gureum/base', 'v1', [randomBytes(100)]);
    expect(await registry.app.storageSampler.sampleNamespace('gureum')).toBe(0);
    const samples = await readSamples();
    expect(samples.filter((received) => received.sample.tenantName === 'gureum')).toEqual([]);
  });
});

describe('registry.cmd.images.list.v1 (GET /v1/images)', () => {
  const caller = (tenantId: string) => ({ principalId: 'p-1', tenantId, role: 'viewer' as const, requestId: randomUUID() });

  it("lists the caller's repositories with tags and bytes, and storage used vs quota, and nothing of other tenants", async () => {
    const umbrella = tenant('umbrella');
    const other = tenant('wayne');
    const shared = randomBytes(3000);
    const app = await pushImage(umbrella.client, 'umbrella/app', 'v1', [shared]);
    await pushImage(umbrella.client, 'umbrella/app', 'v2', [randomBytes(10)]);
    const tools = await pushImage(umbrella.client, 'umbrella/tools', 'latest', [shared, randomBytes(500)]);
    await pushImage(other.client, 'wayne/secret', 'v1', [randomBytes(100)]);
    await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'umbrella', quotaBytes: 50_000 });

    const list = await registry.control.request('registry.cmd.images.list.v1', { caller: caller(umbrella.tenantId as string) });
    expect(list.items.map((item) => item.name)).toEqual(['umbrella/app', 'umbrella/tools']);
    const [appRepo, toolsRepo] = list.items;
    expect(appRepo?.tags.map((tag) => tag.name)).toEqual(['v1', 'v2']);
    expect(appRepo?.tags[0]).toEqual(expect.objectContaining({ digest: app.manifestDigest, artifactType: 'application/vnd.oci.image.config.v1+json' }));
    expect(toolsRepo?.tags).toEqual([expect.objectContaining({ name: 'latest', digest: tools.manifestDigest })]);
    expect(toolsRepo?.bytes).toBe(tools.bytes - shared.length);
    expect(list.storage.quotaBytes).toBe(50_000);
    expect((appRepo?.bytes ?? 0) + (toolsRepo?.bytes ?? 0)).toBe(list.storage.usedBytes);
    expect(JSON.stringify(list)).not.toContain('wayne');

    // A tenant that never pushed sees nothing, with the default quota.
    const empty = await registry.control.request('registry.cmd.images.list.v1', { caller: caller(randomUUID()) });
    expect(empty.items).toEqual([]);
    expect(empty.storage.usedBytes).toBe(0);
  });

  it('lists the named tenant for an operator caller, and refuses a tenant caller naming another tenant', async () => {
    const acme = tenant('acmeops');
    await pushImage(acme.client, 'acmeops/web', 'v1', [randomBytes(200)]);
    const operator = { principalId: 'op-1', role: 'operator' as const, requestId: randomUUID() };
    const list = await registry.control.request('registry.cmd.images.list.v1', { caller: operator, tenantId: acme.tenantId as string });
    expect(list.items.map((item) => item.name)).toEqual(['acmeops/web']);
    expect(list.storage.usedBytes).toBe(list.items[0]?.bytes);
    await expect(
      registry.control.request('registry.cmd.images.list.v1', { caller: caller(randomUUID()), tenantId: acme.tenantId } as never),
    ).rejects.toThrow();
  });

  it('refuses a request without a valid tenant caller', async () => {
    await expect(registry.control.request('registry.cmd.images.list.v1', { caller: { principalId: 'x', role: 'operator', requestId: 'r' } } as never)).rejects.toThrow();
  });
});
