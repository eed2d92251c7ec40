/**
 * Workloads run images from Gureum's registry: a tenant pushes with the docker CLI, creates a
 * workload through the API, and the agent — which has no registry credentials of its own —
 * pulls it with the short-lived, one-repository token the scheduler put in its assignment.
 * Another tenant's private image is refused at create time; an image the registry does not
 * have fails the workload with the pull's reason.
 */
import { BUSYBOX_IMAGE, ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Problem, type Workload } from './support/api-client';
import { DockerCli } from './support/docker-cli';
import { System, type TenantCredentials } from './support/system';

const system = new System({ label: 'registry-pull', agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 }, registry: true });
let owner: TenantCredentials;
let other: TenantCredentials;
let ownerApi: ApiClient;
let otherApi: ApiClient;
let cli: DockerCli;
const localTags: string[] = [];

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
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

async function waitForState(api: ApiClient, id: string, states: string[], timeoutMs = 60_000): Promise<Workload> {
  let last: Workload | undefined;
  return waitFor(
    async () => {
      const res = await api.getWorkload(id);
      last = res.body;
      return res.status === 200 && states.includes(res.body.state) ? res.body : undefined;
    },
    { timeoutMs, what: `workload ${id} in ${states.join('|')} (last: ${JSON.stringify(last)})` },
  );
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
    const created = await ownerApi.createWorkload(containerSpec('from-registry', { image }));
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
    const refused = await otherApi.createWorkload(containerSpec('stolen', { image }));
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect((refused.body as Problem).code).toBe('forbidden');
    expect((refused.body as Problem).detail).toMatch(new RegExp(`may not pull ${owner.name}/busybox`));
    const list = await otherApi.call<{ items: Workload[] }>('GET', '/v1/workloads');
    expect(list.body.items).toHaveLength(0);
  });

  it('fails a workload whose image the registry does not have, with the pull as the reason', async () => {
    const missing = `${system.registryAddress}/${owner.name}/absent:1`;
    const created = await ownerApi.createWorkload(containerSpec('absent-image', { image: missing }));
    expect(created.status).toBe(201);
    const failed = await waitForState(ownerApi, created.body.id, ['failed', 'running']);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toMatch(/^image pull failed: .*(manifest unknown|not found)/i);
  }, 120_000);
});
