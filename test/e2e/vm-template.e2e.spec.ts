/**
 * A VM snapshot saved as a template in the tenant's registry repository, end to end with real
 * QEMU (TCG), the registry and one `docker,vm` agent: the guest writes a word to its disk,
 * a disk snapshot is taken while it runs, `POST /v1/workloads/{id}/snapshots/{name}/template`
 * exports it (QEMU still holding the image) and pushes kernel + initrd + flattened disk with
 * a one-repository push token; the pushed disk has the same contents as the snapshot
 * converted by hand; a new VM created from `<registry>/<tenant>/<repo>:<tag>` (pulled by the
 * agent with the assignment's pull token) boots and reads the word from its disk. Another
 * tenant's namespace is 403, an unknown snapshot 404, a full storage quota 403 quota_exceeded.
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectNats, Bus } from '@gureum/messaging';
import { pullVmTemplate } from '@gureum/oci-client';
import { waitFor } from '@gureum/testing';
import { ApiClient, type Problem, type Workload } from './support/api-client';
import { System, type TenantCredentials } from './support/system';
import { consoleText as consoleOf, removeVms } from './support/vm';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const TEMPLATES = path.join(ROOT, '.gureum/images/vm');
const MARKER = 'GUREUM-GUEST-READY';
const WORD = 'tplmark42';

jest.setTimeout(300_000);

const system = new System({
  label: 'vm-template',
  agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 },
  agent: { drivers: 'docker,vm', env: { GUREUM_AGENT_VM_TEMPLATES: TEMPLATES, GUREUM_AGENT_VM_ACCEL: 'tcg' } },
  registry: true,
});
let owner: TenantCredentials;
let other: TenantCredentials;
let ownerApi: ApiClient;
let otherApi: ApiClient;
const vmIds: string[] = [];
let scratch = '';

beforeAll(async () => {
  if (!(await access(path.join(TEMPLATES, 'tiny', 'template.json')).then(() => true, () => false))) {
    await exec('bash', [path.join(ROOT, 'deploy/images/vm-guest.sh')], { cwd: ROOT, timeout: 600_000 });
  }
  await system.start();
  await waitFor(
    async () => {
      const { rows } = await system.query<{ id: string }>(`SELECT id FROM scheduler.hosts WHERE state = 'ready' AND 'vm' = ANY(drivers) AND 'vm-template+tiny' = ANY(images)`);
      return rows.length === 1 ? true : undefined;
    },
    { timeoutMs: 60_000, what: 'the vm host ready with the tiny template' },
  );
  owner = await system.createTenant('tplacme');
  other = await system.createTenant('tplglobex');
  ownerApi = new ApiClient(system.apiUrl, owner.apiKey);
  otherApi = new ApiClient(system.apiUrl, other.apiKey);
  scratch = await mkdtemp(path.join(tmpdir(), 'gureum-e2e-vm-template-'));
}, 900_000);

afterAll(async () => {
  await removeVms(ownerApi, vmIds, system.nodeId);
  if (scratch) await rm(scratch, { recursive: true, force: true });
  await system.stop();
}, 120_000);

function consoleText(id: string): Promise<string> {
  return consoleOf(ownerApi, id);
}

async function bootVm(name: string, image: string, kernelArgs?: string[]): Promise<{ id: string; console: string }> {
  const created = await ownerApi.createWorkload({ name, kind: 'vm', image, resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1, ...(kernelArgs ? { kernelArgs } : {}) } } as never);
  expect(created.status).toBe(201);
  const id = created.body.id;
  vmIds.push(id);
  let last: unknown;
  await waitFor(
    async () => {
      const res = await ownerApi.call<Workload>('GET', `/v1/workloads/${id}`);
      last = res.body;
      return res.body.state === 'running' ? true : undefined;
    },
    { timeoutMs: 120_000, what: `${name} running (last: ${JSON.stringify(last)})` },
  );
  const text = await waitFor(
    async () => {
      const t = await consoleText(id);
      return t.includes(MARKER) ? t : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 300, what: `${name}: marker on the console` },
  );
  return { id, console: text };
}

function overlayOf(workloadId: string): string {
  return path.join(ROOT, '.gureum-test', 'logs', `vm-template-${system.nodeId}`, 'agent-state', 'vms', workloadId, 'disk.qcow2');
}

describe('a VM snapshot saved as a template', () => {
  let sourceId = '';
  let saved: { image: string; digest: string; diskBytes: number };

  it('exports a disk snapshot of a running VM and pushes it to the tenant repository', async () => {
    const source = await bootVm('tpl-source', 'tiny', [`gureum.write=${WORD}`]);
    sourceId = source.id;
    expect(source.console).toContain(`gureum-disk ${WORD}`);
    const snap = await ownerApi.call('POST', `/v1/workloads/${sourceId}/snapshots`, { name: 's1', withMemory: false });
    expect(snap.status).toBe(201);

    const res = await ownerApi.call<typeof saved>('POST', `/v1/workloads/${sourceId}/snapshots/s1/template`, { repository: `${owner.name}/tiny-saved`, tag: 'v1' });
    expect(res.status).toBe(201);
    saved = res.body;
    expect(saved.image).toBe(`${system.registryAddress}/${owner.name}/tiny-saved:v1`);
    expect(saved.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(saved.diskBytes).toBeGreaterThan(0);
    // The VM kept running through the export.
    expect((await ownerApi.call<Workload>('GET', `/v1/workloads/${sourceId}`)).body.state).toBe('running');
  });

  it('pushed a standalone disk with exactly the snapshot contents (same as qemu-img convert of the snapshot)', async () => {
    const pulled = await pullVmTemplate(saved.image, { username: owner.name, password: owner.apiKey }, path.join(scratch, 'pulled'));
    expect(pulled.digest).toBe(saved.digest);
    expect(pulled.kernel && pulled.initrd && pulled.disk).toBeTruthy();
    const info = JSON.parse((await exec('qemu-img', ['info', '--output=json', pulled.disk!])).stdout) as { format: string; 'backing-filename'?: string };
    expect(info.format).toBe('qcow2');
    expect(info['backing-filename']).toBeUndefined();
    const byHand = path.join(scratch, 'by-hand.qcow2');
    await exec('qemu-img', ['convert', '-U', '-O', 'qcow2', '-l', 'snapshot.name=s1', overlayOf(sourceId), byHand]);
    // `qemu-img compare` exits 0 only when both images have the same guest-visible contents.
    await expect(exec('qemu-img', ['compare', '-U', pulled.disk!, byHand])).resolves.toBeDefined();
    // The disk holds the word the guest wrote before the snapshot.
    const { stdout } = await exec('qemu-io', ['-r', '-U', '-c', 'read -v 0 16', pulled.disk!]);
    const asText = stdout
      .split('\n')
      .map((line) => line.slice(line.lastIndexOf('  ') + 2))
      .join('');
    expect(asText).toContain(WORD.slice(0, 8));
  });

  it('boots a new VM from the saved template, which finds the word on its disk', async () => {
    const copy = await bootVm('tpl-copy', saved.image);
    expect(copy.console).toContain(`gureum-disk ${WORD}`);
    const view = (await ownerApi.call<Workload>('GET', `/v1/workloads/${copy.id}`)).body as unknown as { image: string };
    expect(view.image).toBe(saved.image);

    // The copy, whose own template is in the registry, is saved again: kernel and initrd come
    // from that template (resolved with a fresh pull token), the disk holds what v1 held.
    expect((await ownerApi.call('POST', `/v1/workloads/${copy.id}/snapshots`, { name: 'c1', withMemory: false })).status).toBe(201);
    const again = await ownerApi.call<typeof saved>('POST', `/v1/workloads/${copy.id}/snapshots/c1/template`, { repository: `${owner.name}/tiny-saved`, tag: 'v2' });
    expect(again.status).toBe(201);
    const auth = { username: owner.name, password: owner.apiKey };
    const v1 = await pullVmTemplate(saved.image, auth, path.join(scratch, 'pulled'));
    const v2 = await pullVmTemplate(again.body.image, auth, path.join(scratch, 'pulled'));
    expect(v2.digest).toBe(again.body.digest);
    await expect(exec('qemu-img', ['compare', '-U', v1.disk!, v2.disk!])).resolves.toBeDefined();
  });

  it('refuses another namespace (403), an unknown snapshot (404), another tenant (404)', async () => {
    const foreign = await ownerApi.call<Problem>('POST', `/v1/workloads/${sourceId}/snapshots/s1/template`, { repository: `${other.name}/stolen`, tag: 'v1' });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const unknown = await ownerApi.call<Problem>('POST', `/v1/workloads/${sourceId}/snapshots/nope/template`, { repository: `${owner.name}/tiny-saved`, tag: 'v2' });
    expect(unknown.status).toBe(404);
    const otherTenant = await otherApi.call<Problem>('POST', `/v1/workloads/${sourceId}/snapshots/s1/template`, { repository: `${other.name}/mine`, tag: 'v1' });
    expect(otherTenant.status).toBe(404);
    const badBody = await ownerApi.call<Problem>('POST', `/v1/workloads/${sourceId}/snapshots/s1/template`, { repository: 'no-namespace', tag: 'v1' });
    expect(badBody.status).toBe(400);
  });

  it('answers 403 quota_exceeded when the registry refuses the push for storage quota', async () => {
    const nats = system.natsControl();
    const nc = await connectNats({ url: nats.url, user: nats.user, password: nats.password, name: 'e2e-vm-template-quota' });
    try {
      await new Bus(nc).request('registry.cmd.quota.set.v1', { tenantName: owner.name, quotaBytes: 1 });
    } finally {
      await nc.drain();
    }
    const refused = await ownerApi.call<Problem>('POST', `/v1/workloads/${sourceId}/snapshots/s1/template`, { repository: `${owner.name}/too-big`, tag: 'v1' });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('quota_exceeded');
    expect(refused.body.detail).toMatch(/quota/);
  });
});
