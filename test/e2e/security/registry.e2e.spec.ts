/**
 * Issue 20's registry holes, as a hostile tenant tries them on the whole system (api,
 * scheduler, registry, one `docker,vm` agent with real QEMU and Docker):
 * - hole 3: tenant B names A's private VM template (already in the agent's template cache) or
 *   A's private container image (already in the engine) by digest through B's own namespace;
 * - hole 5: a tenant deleted and re-created with the same name must start with an empty
 *   namespace and zero usage; a deleted tenant's public repository stops being pullable, and its
 *   usage counted, at the deletion (without any new tenant of its name);
 * - item 8: open upload sessions cannot hold more than the storage quota; a revoked API key's
 *   already-issued registry token stops working.
 */
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { RequestOf } from '@gureum/contracts';
import { Bus, connectNats } from '@gureum/messaging';
import { OciClientError, OciRegistryClient, pushVmTemplate, sha256Of } from '@gureum/oci-client';
import { BUSYBOX_IMAGE, ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Workload, waitForWorkloadState } from '../support/api-client';
import { DockerCli } from '../support/docker-cli';
import { System, type TenantCredentials } from '../support/system';
import { removeVms } from '../support/vm';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const TEMPLATES = path.join(ROOT, '.gureum/images/vm');

jest.setTimeout(240_000);

const system = new System({
  label: 'sec-registry',
  agentCapacity: { cpuMillis: 4000, memoryMiB: 2048, pids: 4096 },
  agent: { drivers: 'docker,vm', env: { GUREUM_AGENT_VM_TEMPLATES: TEMPLATES, GUREUM_AGENT_VM_ACCEL: 'tcg' } },
  registry: true,
});
let a: TenantCredentials;
let b: TenantCredentials;
let aApi: ApiClient;
let bApi: ApiClient;
let aCli: DockerCli;
let bCli: DockerCli;
const vmIds: Array<{ api: ApiClient; id: string }> = [];
const localTags: string[] = [];

beforeAll(async () => {
  if (!(await access(path.join(TEMPLATES, 'tiny', 'template.json')).then(() => true, () => false))) {
    await exec('bash', [path.join(ROOT, 'deploy/images/vm-guest.sh')], { cwd: ROOT, timeout: 600_000 });
  }
  await ensureBusyboxImage();
  await system.start();
  a = await system.createTenant('secalpha');
  b = await system.createTenant('secbravo');
  aApi = new ApiClient(system.apiUrl, a.apiKey);
  bApi = new ApiClient(system.apiUrl, b.apiKey);
  aCli = await DockerCli.create();
  bCli = await DockerCli.create();
  await aCli.ok(['login', system.registryAddress, '--username', a.name, '--password-stdin'], a.apiKey);
  await bCli.ok(['login', system.registryAddress, '--username', b.name, '--password-stdin'], b.apiKey);
}, 900_000);

afterAll(async () => {
  for (const { api, id } of vmIds) await removeVms(api, [id], system.nodeId);
  for (const tag of localTags) await aCli?.run(['rmi', '-f', tag]);
  await system.stop();
  await aCli?.dispose();
  await bCli?.dispose();
}, 120_000);

function waitForState(api: ApiClient, id: string, states: string[], timeoutMs = 120_000): Promise<Workload> {
  return waitForWorkloadState(api, id, states, { timeoutMs });
}

async function registryCommand<S extends 'registry.cmd.quota.set.v1' | 'registry.cmd.repository.visibility.v1'>(subject: S, payload: RequestOf<S>): Promise<void> {
  const nats = system.natsControl();
  const nc = await connectNats({ url: nats.url, user: nats.user, password: nats.password, name: 'e2e-sec-registry' });
  try {
    await new Bus(nc).request(subject, payload);
  } finally {
    await nc.drain();
  }
}

/** A one-layer OCI image pushed with the registry client (no docker engine involved). */
async function pushSmallImage(client: OciRegistryClient, repository: string, tag: string, layer: Buffer): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  await client.pushBlob(repository, { bytes: config });
  await client.pushBlob(repository, { bytes: layer });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Of(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256Of(layer), size: layer.length }],
    }),
  );
  return client.pushManifest(repository, tag, manifest, 'application/vnd.oci.image.manifest.v1+json');
}

describe("hole 3: another tenant's private content by digest", () => {
  it("refuses B a VM from A's private template named by digest through B's namespace, though the template is in the agent's cache", async () => {
    const dir = path.join(TEMPLATES, 'tiny');
    const template = JSON.parse(await readFile(path.join(dir, 'template.json'), 'utf8')) as { kernel: string; initrd: string; disk: string; cmdline?: string };
    const pushed = await pushVmTemplate(
      `${system.registryAddress}/${a.name}/private-guest:1`,
      { username: a.name, password: a.apiKey },
      {
        config: { arch: 'x86_64', vcpusMin: 1, memoryMiBMin: 128, bootMode: 'kernel', cmdline: template.cmdline ?? 'console=ttyS0' },
        files: { kernel: path.join(dir, template.kernel), initrd: path.join(dir, template.initrd), disk: path.join(dir, template.disk) },
      },
    );
    // A boots its template: the agent pulls it into its (host-wide) template cache.
    const own = await aApi.createWorkload({ name: 'a-vm', kind: 'vm', image: `${system.registryAddress}/${a.name}/private-guest:1`, resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 } } as never);
    expect({ status: own.status, body: own.body }).toMatchObject({ status: 201 });
    vmIds.push({ api: aApi, id: own.body.id });
    expect(await waitForState(aApi, own.body.id, ['running', 'failed'])).toMatchObject({ state: 'running' });

    // B names the same digest in its own namespace, where it may pull (the scheduler hands
    // the agent a pull token for B's repository). The registry has no such manifest there.
    const stolen = await bApi.createWorkload({ name: 'b-vm', kind: 'vm', image: `${system.registryAddress}/${b.name}/anything@${pushed.digest}`, resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 } } as never);
    expect({ status: stolen.status, body: stolen.body }).toMatchObject({ status: 201 });
    vmIds.push({ api: bApi, id: stolen.body.id });
    const failed = await waitForState(bApi, stolen.body.id, ['running', 'failed']);
    expect({ state: failed.state, reason: failed.reason }).toEqual({ state: 'failed', reason: 'image_not_found' });
    // The agent's log says why: the registry does not have that manifest in B's repository.
    const line = (await system.readLogs()).split('\n').find((entry) => entry.includes(stolen.body.id) && entry.includes('could not be pulled'));
    expect(line).toMatch(/404|MANIFEST_UNKNOWN|manifest unknown/i);
  });

  it("refuses B's docker CLI and B's container workload A's private image by digest, though the engine holds it", async () => {
    const image = `${system.registryAddress}/${a.name}/secret:1`;
    localTags.push(image);
    await aCli.ok(['tag', BUSYBOX_IMAGE, image]);
    await aCli.ok(['push', image]);
    const repoDigest = (await aCli.ok(['image', 'inspect', '-f', '{{join .RepoDigests "\\n"}}', image])).split('\n').find((line) => line.startsWith(`${system.registryAddress}/${a.name}/secret@`));
    const digest = (repoDigest ?? '').split('@')[1] ?? '';
    expect(digest).toMatch(/^sha256:[a-f0-9]{64}$/);

    // The real docker CLI, as B: through B's namespace and straight from A's repository.
    for (const ref of [`${system.registryAddress}/${b.name}/anything@${digest}`, `${system.registryAddress}/${a.name}/secret@${digest}`]) {
      const pulled = await bCli.run(['pull', ref]);
      expect(pulled.code).not.toBe(0);
      expect(pulled.stderr).toMatch(/not found|manifest unknown|denied|unauthorized/i);
    }
    // A container workload of B naming the digest: the agent asks the registry, which refuses.
    const created = await bApi.createWorkload(containerSpec('b-steal', { image: `${system.registryAddress}/${b.name}/anything@${digest}`, resources: { cpuMillis: 50, memoryMiB: 32, pids: 32 } }));
    expect(created.status).toBe(201);
    const failed = await waitForState(bApi, created.body.id, ['running', 'failed']);
    expect(failed).toMatchObject({ state: 'failed' });
    expect(failed.reason).toMatch(/pull/);
  });
});

describe('item 8: open uploads and revoked keys', () => {
  it('keeps the bytes of open upload sessions within the storage quota', async () => {
    await registryCommand('registry.cmd.quota.set.v1', { tenantName: b.name, quotaBytes: 100_000 });
    const client = new OciRegistryClient(`http://${system.registryAddress}`, { username: b.name, password: b.apiKey });
    const scope = `repository:${b.name}/hoard:pull,push`;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const started = await client.send('POST', `/v2/${b.name}/hoard/blobs/uploads/`, scope);
      expect(started.status).toBe(202);
      await started.discard();
      const location = started.headers['location'];
      const patched = await client.send('PATCH', String(location), scope, { body: Buffer.alloc(45_000, i), headers: { 'Content-Type': 'application/octet-stream' } });
      statuses.push(patched.status);
      await patched.discard();
    }
    // Two sessions of 45 000 bytes fit into 100 000; the third does not, however long it stays open.
    expect(statuses).toEqual([202, 202, 403]);
    await registryCommand('registry.cmd.quota.set.v1', { tenantName: b.name, quotaBytes: null });
  });

  it("stops a revoked API key's already-issued registry token", async () => {
    const key = await aApi.call<{ id: string; apiKey: string }>('POST', '/v1/api-keys', { name: 'registry-token', role: 'member' });
    expect(key.status).toBe(201);
    await pushSmallImage(new OciRegistryClient(`http://${system.registryAddress}`, { username: a.name, password: a.apiKey }), `${a.name}/revocable`, '1', Buffer.alloc(1000, 3));
    const url = new URL(`http://${system.registryAddress}/token`);
    url.searchParams.set('service', 'gureum-registry');
    url.searchParams.set('scope', `repository:${a.name}/revocable:pull`);
    const issued = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`${a.name}:${key.body.apiKey}`).toString('base64')}` } });
    expect(issued.status).toBe(200);
    const token = ((await issued.json()) as { token: string }).token;
    const use = () =>
      fetch(`http://${system.registryAddress}/v2/${a.name}/revocable/manifests/1`, {
        method: 'HEAD',
        headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' },
      }).then((res) => res.status);
    expect(await use()).toBe(200);

    expect((await aApi.call('DELETE', `/v1/api-keys/${key.body.id}`)).status).toBe(204);
    // The token itself is valid for minutes; the registry re-checks its key within seconds.
    await waitFor(async () => ((await use()) === 401 ? true : undefined), { timeoutMs: 30_000, intervalMs: 500, what: 'the revoked key’s token refused' });
  });
});

describe("hole 5: a deleted tenant's namespace", () => {
  it('is empty, and counted from zero, for a new tenant of the same name', async () => {
    const first = await system.createTenant('secphoenix');
    const firstClient = new OciRegistryClient(`http://${system.registryAddress}`, { username: first.name, password: first.apiKey });
    await pushSmallImage(firstClient, `${first.name}/old`, 'v1', Buffer.alloc(20_000, 7));
    const firstApi = new ApiClient(system.apiUrl, first.apiKey);
    expect((await firstApi.call<{ storage: { usedBytes: number } }>('GET', '/v1/images')).body.storage.usedBytes).toBeGreaterThan(20_000);

    const operator = new ApiClient(system.apiUrl, await system.createOperatorKey('sec-registry-ops'));
    expect((await operator.call('DELETE', `/v1/tenants/${first.id}`)).status).toBe(204);
    const second = await system.createTenant('secphoenix');
    expect(second.id).not.toBe(first.id);
    const secondApi = new ApiClient(system.apiUrl, second.apiKey);
    const secondClient = new OciRegistryClient(`http://${system.registryAddress}`, { username: second.name, password: second.apiKey });

    // Nothing of the old tenant is pullable by the new one...
    await expect(secondClient.getManifest(`${second.name}/old`, 'v1', ['application/vnd.oci.image.manifest.v1+json'])).rejects.toThrow(OciClientError);
    await expect(secondClient.hasBlob(`${second.name}/old`, sha256Of(Buffer.alloc(20_000, 7)))).resolves.toBe(false);
    // ...nor listed or counted.
    const images = await secondApi.call<{ items: unknown[]; storage: { usedBytes: number } }>('GET', '/v1/images');
    expect(images.status).toBe(200);
    expect(images.body.items).toEqual([]);
    expect(images.body.storage.usedBytes).toBe(0);
    // Its own push is counted from zero.
    await pushSmallImage(secondClient, `${second.name}/new`, 'v1', Buffer.alloc(3_000, 9));
    const after = await secondApi.call<{ items: Array<{ name: string; bytes: number }>; storage: { usedBytes: number } }>('GET', '/v1/images');
    expect(after.body.items.map((item) => item.name)).toEqual([`${second.name}/new`]);
    expect(after.body.storage.usedBytes).toBe(after.body.items[0]?.bytes);
    expect(after.body.storage.usedBytes).toBeLessThan(20_000);
  });

  it('stops serving its public repositories and counting its storage at the deletion, with no new tenant of its name', async () => {
    const doomed = await system.createTenant('secember');
    const client = new OciRegistryClient(`http://${system.registryAddress}`, { username: doomed.name, password: doomed.apiKey });
    await pushSmallImage(client, `${doomed.name}/pub`, 'v1', Buffer.alloc(15_000, 5));
    await registryCommand('registry.cmd.repository.visibility.v1', { name: `${doomed.name}/pub`, public: true });
    const anonymous = new OciRegistryClient(`http://${system.registryAddress}`, { anonymous: true });
    const accept = ['application/vnd.oci.image.manifest.v1+json'];
    await expect(anonymous.getManifest(`${doomed.name}/pub`, 'v1', accept)).resolves.toBeDefined();
    const operator = new ApiClient(system.apiUrl, await system.createOperatorKey('sec-registry-purge'));
    const usage = () => operator.call<{ items: unknown[]; storage: { usedBytes: number } }>('GET', `/v1/admin/images?tenantId=${doomed.id}`);
    expect((await usage()).body.storage.usedBytes).toBeGreaterThan(15_000);

    expect((await operator.call('DELETE', `/v1/tenants/${doomed.id}`)).status).toBe(204);
    // The api's evt.tenant.deleted.v1 reaches the registry through the outbox and JetStream.
    const refusal = await waitFor(
      async () =>
        anonymous.getManifest(`${doomed.name}/pub`, 'v1', accept).then(
          () => undefined,
          (error: unknown) => error,
        ),
      { timeoutMs: 30_000, intervalMs: 250, what: "the deleted tenant's public repository no longer pullable" },
    );
    expect(refusal).toBeInstanceOf(OciClientError);
    expect([401, 404]).toContain((refusal as OciClientError).status);
    const gone = await usage();
    expect(gone.status).toBe(200);
    expect(gone.body.items).toEqual([]);
    expect(gone.body.storage.usedBytes).toBe(0);
  });
});
