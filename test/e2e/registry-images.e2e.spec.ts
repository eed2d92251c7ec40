/**
 * Workloads run images from Gureum's registry: a tenant pushes with the docker CLI, creates a
 * workload through the API, and the agent — which has no registry credentials of its own —
 * pulls it with the short-lived, one-repository token the scheduler put in its assignment.
 * Another tenant's private image is refused at create time; an image the registry does not
 * have fails the workload with the pull's reason. A running container is committed into the
 * tenant's repository and a fresh pull of that image carries the container's changes.
 */
import { Bus, connectNats } from '@gureum/messaging';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUSYBOX_IMAGE, ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Problem, type Workload, waitForWorkloadState } from './support/api-client';
import { DockerCli } from './support/docker-cli';
import { System, type TenantCredentials } from './support/system';

const system = new System({ label: 'registry-images', agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 }, registry: true });
/** Small enough that the 413 test is cheap, large enough that a context needs several NATS chunks (512 KiB each). */
const MAX_CONTEXT_BYTES = 2 * 1024 * 1024;
let owner: TenantCredentials;
let other: TenantCredentials;
let ownerApi: ApiClient;
let otherApi: ApiClient;
let cli: DockerCli;
const localTags: string[] = [];

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start({ GUREUM_BUILD_MAX_CONTEXT_BYTES: String(MAX_CONTEXT_BYTES), GUREUM_BUILD_CPU_MILLIS: '500', GUREUM_BUILD_MEMORY_MIB: '256' });
  owner = await system.createTenant('pullacme');
  other = await system.createTenant('pullglobex');
  ownerApi = new ApiClient(system.apiUrl, owner.apiKey);
  otherApi = new ApiClient(system.apiUrl, other.apiKey);
  cli = await DockerCli.create();
  await cli.ok(['login', system.registryAddress, '--username', owner.name, '--password-stdin'], owner.apiKey);
}, 180_000);

afterAll(async () => {
  for (const tag of localTags) await cli?.run(['rmi', '-f', tag]);
  await system.stop();
  await cli?.dispose();
}, 60_000);

/** Small, so the workloads of this file never fill the agent. */
function spec(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return containerSpec(name, { resources: { cpuMillis: 50, memoryMiB: 32, pids: 32 }, ...overrides });
}

function waitForState(api: ApiClient, id: string, states: string[], timeoutMs = 60_000): Promise<Workload> {
  return waitForWorkloadState(api, id, states, { timeoutMs });
}

describe('workloads from the registry', () => {
  let image: string;

  beforeAll(async () => {
    image = `${system.registryAddress}/${owner.name}/busybox:1`;
    localTags.push(image);
    await cli.ok(['tag', BUSYBOX_IMAGE, image]);
    await cli.ok(['push', image]);
    // The engine must not have the reference: only the agent's pull can bring it back.
    await cli.ok(['rmi', image]);
    expect((await cli.run(['image', 'inspect', image])).code).not.toBe(0);
  }, 120_000);

  it('runs a pushed image on a real agent, which pulls it with a repository-scoped token', async () => {
    const created = await ownerApi.createWorkload(spec('from-registry', { image }));
    expect(created.status).toBe(201);
    const running = await waitForState(ownerApi, created.body.id, ['running', 'failed']);
    expect(running).toMatchObject({ state: 'running', reason: null });
    expect((await cli.ok(['image', 'inspect', '-f', '{{.Id}}', image])).trim()).toMatch(/^sha256:/);
    const logs = await system.readLogs();
    // The agent pulled with a token for exactly this repository, read only.
    expect(logs).toMatch(new RegExp(`"repository":"${owner.name}/busybox","actions":\\["pull"\\][^\\n]*service token issued`));
    await ownerApi.call('DELETE', `/v1/workloads/${created.body.id}`);
    await waitForState(ownerApi, created.body.id, ['deleted']);
  }, 120_000);

  it("refuses another tenant's private image: no token, a clear problem", async () => {
    const refused = await otherApi.createWorkload(spec('stolen', { image }));
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((refused.body as Problem).code).toBe('forbidden');
    expect((refused.body as Problem).detail).toMatch(new RegExp(`may not pull ${owner.name}/busybox`));
    const list = await otherApi.call<{ items: Workload[] }>('GET', '/v1/workloads');
    expect(list.body.items).toHaveLength(0);
  });

  it('fails a workload whose image the registry does not have, with the pull as the reason', async () => {
    const missing = `${system.registryAddress}/${owner.name}/absent:1`;
    const created = await ownerApi.createWorkload(spec('absent-image', { image: missing }));
    expect(created.status).toBe(201);
    const failed = await waitForState(ownerApi, created.body.id, ['failed', 'running']);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toMatch(/^image pull failed: .*(manifest unknown|not found)/i);
  }, 120_000);
});

describe('commit', () => {
  it("saves a running container's changes as an image in the tenant's repository", async () => {
    const marker = `marker-${Date.now()}`;
    const created = await ownerApi.createWorkload(spec('to-commit', { command: ['sh', '-c', `echo ${marker} > /marker; while true; do sleep 1; done`] }));
    expect(created.status).toBe(201);
    await waitForState(ownerApi, created.body.id, ['running']);
    // The shell writes the marker right after start; give it a moment to exist before committing.
    await waitFor(async () => ((await cli.run(['exec', `gureum-${system.nodeId}-${created.body.id}`, 'cat', '/marker'])).stdout.includes(marker) ? true : undefined), {
      timeoutMs: 10_000,
      what: 'marker written',
    }).catch(() => undefined);

    const committed = await ownerApi.call<{ image: string; digest: string } & Problem>('POST', `/v1/workloads/${created.body.id}/commit`, { repository: `${owner.name}/snap`, tag: 'v1' });
    expect(committed.status).toBe(201);
    const image = `${system.registryAddress}/${owner.name}/snap:v1`;
    localTags.push(image);
    expect(committed.body).toEqual({ image, digest: expect.stringMatching(/^sha256:[a-f0-9]{64}$/) });
    // The namespace the agent pushed into with a service token is the tenant's own: it lists it.
    const listed = await ownerApi.call<{ items: Array<{ name: string }> }>('GET', '/v1/images');
    expect(listed.body.items.map((repository) => repository.name)).toContain(`${owner.name}/snap`);

    // Only the registry copy is left: a new workload pulls it and finds the marker.
    await cli.ok(['rmi', '-f', image]);
    const check = await ownerApi.createWorkload(spec('from-commit', { image, command: ['sh', '-c', `test "$(cat /marker)" = ${marker}`] }));
    expect(check.status).toBe(201);
    const done = await waitForState(ownerApi, check.body.id, ['stopped', 'failed']);
    expect(done).toMatchObject({ state: 'stopped', reason: 'completed', exitCode: 0 });
  }, 180_000);

  it("refuses a commit into another tenant's namespace and of another tenant's workload", async () => {
    const created = await ownerApi.createWorkload(spec('not-yours'));
    await waitForState(ownerApi, created.body.id, ['running']);
    const foreign = await ownerApi.call<Problem>('POST', `/v1/workloads/${created.body.id}/commit`, { repository: `${other.name}/stolen`, tag: '1' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.detail).toMatch(/may only push to repositories under/);
    const notVisible = await otherApi.call<Problem>('POST', `/v1/workloads/${created.body.id}/commit`, { repository: `${other.name}/stolen`, tag: '1' });
    expect(notVisible.status).toBe(404);
    const badTag = await ownerApi.call<Problem>('POST', `/v1/workloads/${created.body.id}/commit`, { repository: `${owner.name}/x`, tag: '../x' });
    expect(badTag.status).toBe(400);
  }, 120_000);

  it('answers quota_exceeded when the registry refuses the push for storage quota', async () => {
    const nats = system.natsControl();
    const nc = await connectNats({ url: nats.url, user: nats.user, password: nats.password, name: 'e2e-quota' });
    try {
      await new Bus(nc).request('registry.cmd.quota.set.v1', { tenantName: other.name, quotaBytes: 1 });
    } finally {
      await nc.drain();
    }
    const created = await otherApi.createWorkload(spec('over-quota'));
    await waitForState(otherApi, created.body.id, ['running']);
    const refused = await otherApi.call<Problem>('POST', `/v1/workloads/${created.body.id}/commit`, { repository: `${other.name}/big`, tag: '1' });
    localTags.push(`${system.registryAddress}/${other.name}/big:1`);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(refused.body.code).toBe('quota_exceeded');
    expect(refused.body.detail).toMatch(/quota/);
  }, 120_000);
});

interface Build {
  id: string;
  state: string;
  image: string;
  hostId: string | null;
  digest: string | null;
  error: string | null;
  contextBytes: number;
}

/** A tar (as tar(1) makes it) of `files`. */
function tarOf(files: Record<string, string | Buffer>): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'gureum-build-ctx-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
    return execFileSync('tar', ['-C', dir, '-c', ...Object.keys(files)], { maxBuffer: 64 * 1024 * 1024 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function postBuild(api: ApiClient, repository: string, tag: string, body: Buffer | string, contentType = 'application/x-tar') {
  const res = await fetch(`${system.apiUrl}/v1/builds?repository=${encodeURIComponent(repository)}&tag=${tag}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${api === ownerApi ? owner.apiKey : other.apiKey}`, 'content-type': contentType },
    body,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as Build & Problem };
}

async function waitForBuild(id: string, timeoutMs = 150_000): Promise<Build> {
  return waitFor(
    async () => {
      const res = await ownerApi.call<Build>('GET', `/v1/builds/${id}`);
      return res.status === 200 && (res.body.state === 'succeeded' || res.body.state === 'failed') ? res.body : undefined;
    },
    { timeoutMs, what: `build ${id} finished` },
  );
}

describe('builds', () => {
  let firstBuildId = '';
  it('builds a Dockerfile FROM our registry on the agent, pushes it, and the image runs as a workload', async () => {
    const base = `${system.registryAddress}/${owner.name}/busybox:1`;
    // The base must come from the registry with the build's pull token, not from the engine's cache.
    await cli.run(['rmi', '-f', base]);
    const blob = randomBytes(900 * 1024);
    const blobSha = createHash('sha256').update(blob).digest('hex');
    const context = tarOf({ Dockerfile: `FROM ${base}\nRUN echo hi > /hi\nCOPY blob /blob\n`, blob });
    expect(context.length).toBeGreaterThan(512 * 1024);

    const accepted = await postBuild(ownerApi, `${owner.name}/hello`, '1', context);
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('location')).toBe(`/v1/builds/${accepted.body.id}`);
    expect(accepted.body).toMatchObject({ state: 'queued', image: `${system.registryAddress}/${owner.name}/hello:1`, hostId: system.nodeId, contextBytes: context.length });
    const image = accepted.body.image;
    firstBuildId = accepted.body.id;
    localTags.push(image, base);

    const done = await waitForBuild(accepted.body.id);
    const log = await ownerApi.call<{ log: string; state: string }>('GET', `/v1/builds/${accepted.body.id}/log`);
    expect({ state: done.state, error: done.error }).toEqual({ state: 'succeeded', error: null });
    expect(done.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(log.body.log).toContain('RUN echo hi > /hi');
    expect(log.body.log).toContain(`pulling base image ${base}`);

    // Only the registry has it now: the workload's agent pulls what the build pushed.
    await cli.ok(['rmi', '-f', image]);
    const check = await ownerApi.createWorkload(spec('from-build', { image, command: ['sh', '-c', `test "$(cat /hi)" = hi && test "$(sha256sum /blob | cut -d' ' -f1)" = ${blobSha}`] }));
    expect(check.status).toBe(201);
    const ran = await waitForState(ownerApi, check.body.id, ['stopped', 'failed']);
    expect(ran).toMatchObject({ state: 'stopped', reason: 'completed', exitCode: 0 });
  }, 240_000);

  it('reports a failing step as a failed build with its log', async () => {
    const accepted = await postBuild(ownerApi, `${owner.name}/broken`, '1', tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN echo about-to-fail && exit 3\n` }));
    expect(accepted.status).toBe(202);
    const done = await waitForBuild(accepted.body.id);
    expect(done.state).toBe('failed');
    expect(done.error).toMatch(/returned a non-zero code: 3/);
    const log = await ownerApi.call<{ log: string }>('GET', `/v1/builds/${accepted.body.id}/log`);
    expect(log.body.log).toContain('about-to-fail');
  }, 180_000);

  it("refuses a base image from another tenant's private repository, a foreign target, a context without Dockerfile, a too large one", async () => {
    const foreignBase = await postBuild(otherApi, `${other.name}/mine`, '1', tarOf({ Dockerfile: `FROM ${system.registryAddress}/${owner.name}/busybox:1\n` }));
    expect(foreignBase.status).toBe(403);
    expect(foreignBase.body.detail).toMatch(new RegExp(`may not pull ${owner.name}/busybox`));
    const foreignTarget = await postBuild(otherApi, `${owner.name}/intruder`, '1', tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\n` }));
    expect(foreignTarget.status).toBe(403);
    expect(foreignTarget.body.detail).toMatch(/may only push to repositories under/);
    const { rows } = await system.query<{ n: string }>(`SELECT count(*) AS n FROM api.builds WHERE tenant_id = $1`, [other.id]);
    expect(Number(rows[0]?.n)).toBe(0);

    const noDockerfile = await postBuild(ownerApi, `${owner.name}/x`, '1', tarOf({ 'README.md': 'no dockerfile here' }));
    expect(noDockerfile.status).toBe(400);
    expect(noDockerfile.body.detail).toMatch(/Dockerfile at its root/);
    const tooLarge = await postBuild(ownerApi, `${owner.name}/x`, '1', Buffer.alloc(MAX_CONTEXT_BYTES + 1));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(tooLarge.body.code).toBe('payload_too_large');
    const notTar = await postBuild(ownerApi, `${owner.name}/x`, '1', '{}', 'application/json');
    expect(notTar.status).toBe(400);
    // Another tenant's build does not exist for this one, nor does its log.
    expect((await otherApi.call<Problem>('GET', `/v1/builds/${firstBuildId}`)).status).toBe(404);
    expect((await otherApi.call<Problem>('GET', `/v1/builds/${firstBuildId}/log`)).status).toBe(404);
    expect((await ownerApi.call<Problem>('GET', `/v1/builds/${firstBuildId}`)).status).toBe(200);
  }, 120_000);
});
