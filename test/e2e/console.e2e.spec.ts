/**
 * The admin console in a real browser (Debian's Chromium driven by playwright-core) against
 * the real system: api (serving the built console under /console/), scheduler, agent, metering,
 * registry, billing, NATS, PostgreSQL and Docker. Screenshots of every main page go to .gureum-test/artifacts/console/.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { SseParser, type ServerSentEvent } from '../../apps/console/src/api/sse-parser';
import { OciClient } from '../../apps/registry/src/testing/oci-client';
import { ApiClient, containerSpec } from './support/api-client';
import { System } from './support/system';

const ROOT = path.resolve(__dirname, '../..');
const ARTIFACTS = path.join(ROOT, '.gureum-test', 'artifacts', 'console');
const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags Chromium floods the closed network with connection attempts.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// Metering, the registry and billing run too, so the usage, images and billing pages work against the real services.
const system = new System({
  label: 'console',
  agentCapacity: { cpuMillis: 4000, memoryMiB: 4096, pids: 4096 },
  metering: { sampleMs: 2000 },
  registry: true,
  billing: { period: 'PT1H', graceSeconds: 1, runIntervalMs: 1000 },
});
const tenantName = `console-${randomBytes(3).toString('hex')}`;
let userDataDir = '';
let context: BrowserContext;
let page: Page;
let operator: { login: string; password: string };
let tenantKey = '';
let tenantId = '';

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function openSection(name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  operator = await system.createOperatorUser(`ops-${randomBytes(3).toString('hex')}`);
  await mkdir(ARTIFACTS, { recursive: true });
  userDataDir = await mkdtemp(path.join(tmpdir(), 'gureum-console-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 800 } });
  page = context.pages()[0] ?? (await context.newPage());
}, 180_000);

afterAll(async () => {
  await context?.close().catch(() => undefined);
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
  await system.stop();
});

interface Collected {
  events: ServerSentEvent[];
  done: Promise<void>;
  stop: () => void;
}

/** Reads `GET /v1/events/stream` as the console does (fetch + stream + SseParser), collecting events until stopped. */
async function collectStream(apiKey: string, lastEventId?: string): Promise<Collected> {
  const controller = new AbortController();
  const response = await fetch(`${system.apiUrl}/v1/events/stream?maxSeconds=120`, {
    headers: { authorization: `Bearer ${apiKey}`, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: ServerSentEvent[] = [];
  const parser = new SseParser();
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const done = (async () => {
    try {
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) return;
        events.push(...parser.push(value));
      }
    } catch {
      // aborted by stop()
    }
  })();
  return { events, done, stop: () => controller.abort() };
}

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function pushImage(client: OciClient, name: string, tag: string, layer: Buffer): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const configDigest = await client.pushBlob(name, config);
  const layerDigest = await client.pushBlob(name, layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
    }),
  );
  const response = await client.pushManifest(name, tag, manifest, OCI_MANIFEST);
  if (response.status !== 201) throw new Error(`pushing ${name}:${tag} answered ${response.status}: ${response.body.toString()}`);
}

const workloadIdsOf = (events: ServerSentEvent[]) => new Set(events.filter((event) => event.event === 'workload').map((event) => (JSON.parse(event.data) as { workloadId: string }).workloadId));

describe('the event stream the console reads', () => {
  it("gives each tenant only its own workloads' transitions, and resumes after Last-Event-ID", async () => {
    const a = await system.createTenant(`stream-a-${randomBytes(2).toString('hex')}`);
    const b = await system.createTenant(`stream-b-${randomBytes(2).toString('hex')}`);
    const streamA = await collectStream(a.apiKey);
    const streamB = await collectStream(b.apiKey);
    const workloadA = await new ApiClient(system.apiUrl, a.apiKey).createWorkload(containerSpec('stream-a', { resources: { cpuMillis: 50, memoryMiB: 16, pids: 16 } }));
    const workloadB = await new ApiClient(system.apiUrl, b.apiKey).createWorkload(containerSpec('stream-b', { resources: { cpuMillis: 50, memoryMiB: 16, pids: 16 } }));
    expect([workloadA.status, workloadB.status]).toEqual([201, 201]);
    const runningIn = (events: ServerSentEvent[], id: string) => events.some((event) => event.event === 'workload' && (JSON.parse(event.data) as { workloadId: string; to: string }).workloadId === id && event.data.includes('"to":"running"'));
    await waitFor(async () => (runningIn(streamA.events, workloadA.body.id) && runningIn(streamB.events, workloadB.body.id) ? true : undefined), { timeoutMs: 60_000, what: 'both workloads running on their streams' });
    streamA.stop();
    streamB.stop();
    await Promise.all([streamA.done, streamB.done]);

    expect([...workloadIdsOf(streamA.events)]).toEqual([workloadA.body.id]);
    expect([...workloadIdsOf(streamB.events)]).toEqual([workloadB.body.id]);

    // Reconnecting with the first event's id replays exactly what came after it.
    const [first, ...rest] = streamA.events.filter((event) => event.event === 'workload');
    const resumed = await collectStream(a.apiKey, first!.lastEventId);
    await waitFor(async () => (resumed.events.length >= rest.length ? true : undefined), { timeoutMs: 30_000, what: 'the replay after Last-Event-ID' });
    resumed.stop();
    await resumed.done;
    expect(resumed.events.slice(0, rest.length).map((event) => event.lastEventId)).toEqual(rest.map((event) => event.lastEventId));
  }, 120_000);
});

describe('admin console', () => {
  it('is served by the api under /console/ with a strict content security policy, deep links included', async () => {
    const index = await fetch(`${system.apiUrl}/console/workloads/some-id`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await index.text()).toContain('<div id="root">');
    const missingAsset = await fetch(`${system.apiUrl}/console/assets/nope.js`);
    expect(missingAsset.status).toBe(404);
    expect(missingAsset.headers.get('content-type')).toBe('application/problem+json');
    expect((await fetch(`${system.apiUrl}/console`, { redirect: 'manual' })).headers.get('location')).toBe('/console/');
  });

  it('refuses a wrong password with the API problem as a readable message, then logs the operator in', async () => {
    await page.goto(`${system.apiUrl}/console/`);
    await page.getByLabel('Login', { exact: true }).fill(operator.login);
    await page.getByLabel('Password', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/the login or password is wrong/);

    await page.getByLabel('Password', { exact: true }).fill(operator.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.getByRole('status', { name: 'Live updates: Live' }).waitFor({ timeout: 30_000 });
    await page.getByRole('heading', { name: 'Workloads by state' }).waitFor();
    await screenshot('overview');
  }, 60_000);

  it('creates a tenant and sets its quota', async () => {
    await openSection('Tenants');
    // A bad name first: the API's validation problem is shown, nothing is created.
    await page.getByLabel('Tenant name').fill('Not A Valid Name!');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByRole('alert').filter({ hasText: /name/i }).first().waitFor();

    await page.getByLabel('Tenant name').fill(tenantName);
    await page.getByRole('button', { name: 'Create tenant' }).click();
    const key = page.getByLabel('Owner API key');
    await key.waitFor();
    tenantKey = (await key.innerText()).trim();
    expect(tenantKey).toMatch(/^grm_/);
    await page.getByRole('table', { name: 'Tenants' }).getByRole('row').filter({ hasText: tenantName }).waitFor();
    const me = await new ApiClient(system.apiUrl, tenantKey).call<{ tenant: { id: string; name: string } }>('GET', '/v1/me');
    expect(me.body.tenant.name).toBe(tenantName);
    tenantId = me.body.tenant.id;

    await page.getByRole('button', { name: `Quotas and plan of tenant ${tenantName}` }).click();
    await page.getByLabel('CPU (millicores)').fill('3000');
    await page.getByLabel('Memory (MiB)').fill('2048');
    await page.getByRole('button', { name: 'Save quotas' }).click();
    await page.getByRole('img', { name: /Quota use: CPU: 0 CPU \/ 3 CPU/ }).waitFor();
    // The scheduler holds it: the API answers the new limits.
    const quotas = await new ApiClient(system.apiUrl, await system.createOperatorKey('console-check')).call<{ limits: { cpuMillis: number; memoryMiB: number } }>('GET', `/v1/admin/tenants/${tenantId}/quotas`);
    expect(quotas.body.limits).toMatchObject({ cpuMillis: 3000, memoryMiB: 2048 });
    await screenshot('tenants');
  }, 60_000);

  it("shows a container the tenant starts through the API on the workloads page without a reload, then its state changes", async () => {
    await openSection('Workloads');
    await page.getByRole('table', { name: 'Workloads' }).waitFor();
    await page.getByRole('status', { name: 'Live updates: Live' }).waitFor();
    // A marker on the window: gone if the page reloads or navigates.
    await page.evaluate(() => Object.assign(globalThis, { __consoleTestMarker: 'still here' }));

    const tenant = new ApiClient(system.apiUrl, tenantKey);
    const created = await tenant.createWorkload(containerSpec('live-web', { resources: { cpuMillis: 200, memoryMiB: 32, pids: 32 } }));
    expect(created.status).toBe(201);

    const row = page.getByRole('table', { name: 'Workloads' }).getByRole('row').filter({ hasText: 'live-web' });
    await row.waitFor({ timeout: 30_000 });
    await row.filter({ hasText: 'running' }).waitFor({ timeout: 60_000 });
    expect(await row.innerText()).toContain(tenantName);
    expect(await page.evaluate(() => (globalThis as { __consoleTestMarker?: string }).__consoleTestMarker)).toBe('still here');
    await screenshot('workloads');

    // Filtered by the tenant, the same row; the detail page has its history.
    await page.getByLabel('Tenant', { exact: true }).selectOption({ label: tenantName });
    await page.getByRole('table', { name: 'Workloads' }).getByRole('row').filter({ hasText: 'live-web' }).waitFor();
    await row.getByRole('link', { name: 'live-web' }).click();
    await page.getByRole('heading', { level: 1, name: 'Workload live-web' }).waitFor();
    const history = page.getByRole('list', { name: 'State transitions' });
    await history.getByRole('listitem').filter({ hasText: 'running' }).waitFor();
    expect(await history.innerText()).toMatch(/new\s*→\s*scheduled/);
    expect(await history.innerText()).toContain(system.nodeId);

    // A stop through the API appears live on the detail page too.
    expect((await tenant.call('POST', `/v1/workloads/${created.body.id}/stop`)).status).toBe(202);
    await history.getByRole('listitem').filter({ hasText: /→\s*stopped/ }).waitFor({ timeout: 30_000 });
    // The operator starts it again from the console (as the owner could), and watches it run.
    await page.getByRole('button', { name: 'Start workload live-web' }).click();
    await history.getByRole('listitem').last().filter({ hasText: /→\s*running/ }).waitFor({ timeout: 60_000 });
    expect((await tenant.getWorkload(created.body.id)).body.state).toBe('running');
    await screenshot('workload-detail');
  }, 120_000);

  it('shows the hosts page with the host and its allocation', async () => {
    await openSection('Hosts');
    await page.getByRole('table', { name: 'Hosts' }).getByRole('row').filter({ hasText: system.nodeId }).filter({ hasText: 'ready' }).waitFor();
    await screenshot('hosts');
  });

  it('creates a price plan, assigns it to the tenant, shows its invoice and finalising answers the billing service', async () => {
    await openSection('Usage & billing');
    await page.getByRole('region', { name: 'Invoices' }).waitFor();
    await page.getByRole('region', { name: 'Usage per tenant and meter' }).waitFor();

    const planName = `console-plan-${randomBytes(2).toString('hex')}`;
    await page.getByLabel('Plan name').fill(planName);
    await page.getByLabel('Currency', { exact: true }).fill('EUR');
    await page.getByLabel('Unit price of vcpu_seconds').fill('0.00002');
    await page.getByRole('button', { name: 'Create plan' }).click();
    await page.getByRole('table', { name: 'Price plans' }).getByRole('row').filter({ hasText: planName }).filter({ hasText: 'vcpu_seconds: 0.00002 per unit' }).waitFor();

    await page.getByLabel('Tenant to assign the plan to').selectOption({ label: tenantName });
    await page.getByLabel('Plan to assign').selectOption({ label: `${planName} (EUR)` });
    await page.getByRole('button', { name: 'Assign plan' }).click();
    await page.getByRole('status').filter({ hasText: `${tenantName} is on ${planName}` }).waitFor();

    // The billing service drafts the current period's invoice within a run (1 s).
    await page.getByLabel('Invoice tenant').selectOption({ label: tenantName });
    const draft = page.getByRole('table', { name: 'Invoices' }).getByRole('row').filter({ hasText: 'draft' }).filter({ hasText: 'EUR' });
    await waitFor(
      async () => {
        if (await draft.first().isVisible()) return true;
        await page.getByRole('button', { name: 'Refresh invoices' }).click();
        await page.waitForTimeout(1000);
        return undefined;
      },
      { timeoutMs: 60_000, what: "the tenant's draft invoice on the invoices page" },
    );
    // Its period is the current hour: billing refuses to finalise it before the period ends, and the page says why.
    await draft.first().getByRole('button', { name: /^Finalise invoice / }).click();
    await draft.first().getByRole('alert').filter({ hasText: /cannot be finalised before/ }).waitFor();

    // The tenant's container has been sampled by now (or soon): its usage appears as a chart bar.
    const tenantBar = page.getByRole('img', { name: new RegExp(`${tenantName}: [0-9]`) }).first();
    await waitFor(
      async () => {
        if (await tenantBar.isVisible()) return true;
        await page.getByRole('button', { name: 'Refresh usage' }).click();
        await page.waitForTimeout(1000);
        return undefined;
      },
      { timeoutMs: 60_000, what: "the tenant's usage on the usage page" },
    );
    await screenshot('billing');
  }, 150_000);

  it("shows the tenant's pushed image with storage vs quota, and runs registry GC with the bytes freed", async () => {
    // The tenant pushes two images to one tag (as `docker push` does, with its API key): the
    // first manifest and its layer are left unreferenced, for the collection to free.
    const oci = new OciClient(`http://${system.registryAddress}`, { username: tenantName, password: tenantKey });
    for (const size of [300_000, 1000]) await pushImage(oci, `${tenantName}/snap`, 'v1', randomBytes(size));
    await openSection('Images');
    await page.getByLabel('Images of tenant').selectOption({ label: tenantName });
    await page.getByRole('table', { name: `Repositories of ${tenantName}` }).getByRole('row').filter({ hasText: `${tenantName}/snap` }).filter({ hasText: 'v1' }).waitFor();
    await page.getByRole('img', { name: new RegExp(`Registry storage of ${tenantName}, used of quota: Storage: [0-9.]+ [KMG]?i?B / `) }).waitFor();

    await page.getByLabel('Collect everything unreferenced now (no grace period)').check();
    await page.getByRole('button', { name: 'Run registry garbage collection' }).click();
    const report = page.getByRole('status', { name: 'Garbage collection report' });
    await report.waitFor({ timeout: 60_000 });
    expect(await report.innerText()).toMatch(/Freed\s*[1-9][0-9.]* [KMG]i?B/);
    // The page reads the tenant's storage again: the unreferenced image's ~293 KiB are gone, the small one stays.
    await page.getByRole('img', { name: new RegExp(`Registry storage of ${tenantName}, used of quota: Storage: ([0-9]+ B|[0-9]\\.[0-9] KiB) / `) }).waitFor();
    await screenshot('images');
  }, 150_000);

  it('shows the audit log with the tenant this test created', async () => {
    await openSection('Audit log');
    await page.getByRole('table', { name: 'Audit entries' }).getByRole('row').filter({ hasText: 'createTenant' }).first().waitFor();
    // Filtered to the new tenant: its own workload creation is there.
    await page.getByLabel('Tenant', { exact: true }).selectOption({ value: tenantId });
    await page.getByRole('table', { name: 'Audit entries' }).getByRole('row').filter({ hasText: 'createWorkload' }).first().waitFor();
    await screenshot('audit');
  });

  it('counts the running container on the overview', async () => {
    await openSection('Overview');
    await page.getByRole('list', { name: 'Workload counts by state' }).getByRole('listitem').filter({ hasText: 'running' }).waitFor();
    // Capacity vs allocated vs used (metered: the tenant's container has been sampled by now).
    await page.getByRole('img', { name: /^CPU allocated and used of capacity: All hosts, allocated: [0-9.]+ CPU \/ 4 CPU.*All hosts, used: / }).waitFor();
    await page.getByRole('img', { name: /^Memory allocated and used of capacity: All hosts, allocated: .*All hosts, used: [0-9.]+ [MG]iB \/ / }).waitFor();
    // Revenue this period in the currency of the plan created above: the tenant's draft invoice counts.
    const revenue = page.getByLabel('Revenue in EUR');
    await revenue.waitFor();
    expect(await revenue.innerText()).toMatch(/Tenants billed\s*[1-9]/);
    await screenshot('overview-with-workloads');
  });

  it('is usable on a narrow screen: navigation and tables stay reachable', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await openSection('Workloads');
    await page.getByRole('table', { name: 'Workloads' }).getByRole('row').filter({ hasText: 'live-web' }).waitFor();
    const nav = await page.getByRole('navigation', { name: 'Main' }).boundingBox();
    expect(nav && nav.width <= 390).toBe(true);
    await screenshot('workloads-narrow');
    await openSection('Overview');
    await page.getByRole('list', { name: 'Workload counts by state' }).waitFor();
    await page.getByRole('img', { name: /^CPU allocated and used of capacity: / }).waitFor();
    await screenshot('overview-narrow');
    await openSection('Usage & billing');
    await page.getByRole('table', { name: 'Price plans' }).waitFor();
    await screenshot('billing-narrow');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  // Last: draining the only host moves (or strands) every workload, which the steps above read.
  it('cordons and drains the host of the container, and the state changes on the page', async () => {
    await openSection('Hosts');
    const row = page.getByRole('table', { name: 'Hosts' }).getByRole('row').filter({ hasText: system.nodeId });
    await row.waitFor();
    await page.getByRole('button', { name: `Cordon host ${system.nodeId}` }).click();
    await row.filter({ hasText: 'cordoned' }).waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: `Drain host ${system.nodeId}` }).click();
    await row.filter({ hasText: /draining|drained/ }).waitFor({ timeout: 30_000 });
    await page.getByRole('progressbar', { name: `Drain progress of host ${system.nodeId}` }).waitFor();
    await screenshot('hosts-drain');
    // A change made elsewhere (another operator, through the API) arrives on the page by the stream (evt.host.state.v1).
    const otherOperator = new ApiClient(system.apiUrl, await system.createOperatorKey('console-other-operator'));
    expect((await otherOperator.call('POST', `/v1/admin/hosts/${system.nodeId}/maintenance`)).status).toBe(200);
    await row.filter({ hasText: 'maintenance' }).waitFor({ timeout: 30_000 });
  }, 90_000);
});
