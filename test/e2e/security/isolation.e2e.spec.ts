/**
 * Isolation of workloads from the host, checked from the host's side (issue 20, "isolation the
 * seed asks for"), on one system with an agent running both drivers:
 * - a container's root is an unprivileged uid on the host (`/proc/<pid>/uid_map`, engine with
 *   `--userns-remap`), and the agent says so in its docker fingerprint;
 * - `readOnlyRootFilesystem`: the container cannot write `/` but can write `/tmp`;
 * - Docker's init is PID 1: a tenant process without a SIGTERM handler is ended by the stop's
 *   SIGTERM (exit code 143 = 128 + 15), not by the SIGKILL after the timeout (137);
 * - the VM's QEMU runs as the unprivileged `gureum-qemu` user with a seccomp filter, and the
 *   VM's files are 0600, its directories closed to everybody else.
 */
import { execFile } from 'node:child_process';
import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { HeartbeatSchema } from '@gureum/contracts';
import { connectNats } from '@gureum/messaging';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Workload, waitForWorkloadState } from '../support/api-client';
import { dockerInspect, System } from '../support/system';
import { removeVms } from '../support/vm';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const TEMPLATES = path.join(ROOT, '.gureum/images/vm');
const QEMU_USER = 'gureum-qemu';

jest.setTimeout(180_000);

const system = new System({
  label: 'isolation',
  agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 },
  agent: { drivers: 'docker,vm', env: { GUREUM_AGENT_VM_TEMPLATES: TEMPLATES, GUREUM_AGENT_VM_ACCEL: 'tcg' } },
});
let api: ApiClient;
const vmIds: string[] = [];

beforeAll(async () => {
  if (!(await access(path.join(TEMPLATES, 'tiny', 'template.json')).then(() => true, () => false))) {
    await exec('bash', [path.join(ROOT, 'deploy/images/vm-guest.sh')], { cwd: ROOT, timeout: 600_000 });
  }
  // The deploy scripts create the QEMU user (stack.sh up, ci.sh); so does this test's machine set-up.
  await exec('bash', ['-c', `source ${path.join(ROOT, 'deploy/local/lib.sh')} && ensure_qemu_user`]);
  await ensureBusyboxImage();
  await system.start();
  const tenant = await system.createTenant(`iso-${system.nodeId}`);
  api = new ApiClient(system.apiUrl, tenant.apiKey);
}, 600_000);

afterAll(async () => {
  if (api) await removeVms(api, vmIds, system.nodeId);
  await system.stop();
}, 120_000);

function waitForState(id: string, states: string[], timeoutMs = 30_000): Promise<Workload> {
  return waitForWorkloadState(api, id, states, { timeoutMs });
}

async function create(spec: Record<string, unknown>): Promise<string> {
  const res = await api.createWorkload(spec);
  expect(res.status).toBe(201);
  return res.body.id;
}

async function containerOf(workloadId: string): Promise<string> {
  return waitFor(
    async () => {
      const ids = await system.containerIds({ 'io.gureum.workload': workloadId });
      return ids.length === 1 ? ids[0] : undefined;
    },
    { timeoutMs: 10_000, what: `container of ${workloadId}` },
  );
}

async function hostUid(user: string): Promise<number> {
  return Number((await exec('id', ['-u', user])).stdout.trim());
}

/** Real, effective, saved and filesystem uid of a host process. */
async function uidsOf(pid: number): Promise<number[]> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return (/^Uid:\s+(.*)$/m.exec(status)?.[1] ?? '').trim().split(/\s+/).map(Number);
}

test("a container's root is an unprivileged uid on the host (uid_map read from the host), and the agent reports the remap", async () => {
  const id = await create(containerSpec('uid-map'));
  await waitForState(id, ['running']);
  const { pid } = await dockerInspect(await containerOf(id));
  expect(pid).toBeGreaterThan(0);
  // "inside outside length": uid 0 inside maps to a host uid that is not 0 (without a remap: "0 0 4294967295").
  const [inside, outside, length] = (await readFile(`/proc/${pid}/uid_map`, 'utf8')).trim().split('\n')[0]!.trim().split(/\s+/).map(Number);
  expect(inside).toBe(0);
  expect(outside).toBeGreaterThan(0);
  expect(length).toBeLessThan(4294967295);
  // The container's processes run as root inside, i.e. as `outside` on the host (Docker's init
  // is PID 1 of the container, the tenant's process its child; both are remapped).
  expect((await uidsOf(pid))[0]).toBe(outside);
  // The operator sees the engine's posture in the host's fingerprint (the docker driver's detail).
  const nc = await connectNats({ ...system.natsControl(), name: 'isolation-heartbeat-watch' });
  try {
    const details: string[] = [];
    const subscription = nc.subscribe(`agent.${system.nodeId}.evt.heartbeat.v1`, {
      callback: (_error, msg) => {
        const parsed = HeartbeatSchema.safeParse(msg.json());
        const docker = parsed.success ? parsed.data.drivers.find((driver) => driver.driver === 'docker') : undefined;
        if (docker) details.push(docker.detail);
      },
    });
    const detail = await waitFor(async () => details[0], { timeoutMs: 15_000, what: 'a heartbeat with the docker fingerprint' });
    subscription.unsubscribe();
    expect(detail).toContain('userns-remap');
    expect(detail).not.toContain('WARNING');
  } finally {
    await nc.close();
  }
  await api.call('DELETE', `/v1/workloads/${id}`);
});

test('readOnlyRootFilesystem: the container cannot write / but can write /tmp (a tmpfs)', async () => {
  // Exit 10: / was writable; 11: /tmp was not; 42: exactly what was asked for.
  const script = 'if touch /probe 2>/dev/null; then exit 10; fi; echo ok > /tmp/probe && grep -q ok /tmp/probe || exit 11; exit 42';
  const id = await create(containerSpec('read-only', { command: ['sh', '-c', script], readOnlyRootFilesystem: true }));
  const done = await waitForState(id, ['stopped', 'failed']);
  expect(done.exitCode).toBe(42);
  const view = (await api.getWorkload(id)).body as Workload & { readOnlyRootFilesystem?: boolean };
  expect(view.readOnlyRootFilesystem).toBe(true);
  // The same script without the option: the root filesystem is writable, as before.
  const writable = await create(containerSpec('writable', { command: ['sh', '-c', script] }));
  expect((await waitForState(writable, ['stopped', 'failed'])).exitCode).toBe(10);
  // A tenant cannot smuggle the option into a VM (it is a container field).
  const vm = await api.createWorkload({ name: 'ro-vm', kind: 'vm', image: 'tiny', resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 }, readOnlyRootFilesystem: true });
  expect(vm.status).toBe(400);
  for (const w of [id, writable]) await api.call('DELETE', `/v1/workloads/${w}`);
});

test("a stop ends a PID 1 without a SIGTERM handler by SIGTERM through Docker's init, not by SIGKILL after the timeout", async () => {
  // busybox sleep installs no handler: as a namespace's PID 1 the kernel would drop SIGTERM.
  const id = await create(containerSpec('no-handler', { command: ['sleep', '3600'] }));
  await waitForState(id, ['running']);
  const containerId = await containerOf(id);
  const { pid } = await dockerInspect(containerId);
  // PID 1 of the container is Docker's init (tini), the tenant's command is its child.
  expect((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0]).toMatch(/docker-init|tini/);
  expect((await api.call('POST', `/v1/workloads/${id}/stop`)).status).toBe(202);
  const stopped = await waitForState(id, ['stopped']);
  // 143 = 128 + SIGTERM, from init reporting its child's signal; 137 (SIGKILL) without init.
  expect(stopped.exitCode).toBe(143);
  const inspected = JSON.parse((await exec('docker', ['inspect', containerId])).stdout) as Array<{ State: { ExitCode: number } }>;
  expect(inspected[0]!.State.ExitCode).toBe(143);
  await api.call('DELETE', `/v1/workloads/${id}`);
});

test("the VM's QEMU runs as the unprivileged QEMU user under seccomp, its files 0600 and its directories closed", async () => {
  const res = await api.createWorkload({ name: 'iso-vm', kind: 'vm', image: 'tiny', resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 } });
  expect(res.status).toBe(201);
  const id = res.body.id;
  vmIds.push(id);
  await waitForState(id, ['running'], 60_000);
  const pid = await waitFor(
    async () => {
      const { stdout } = await exec('pgrep', ['-f', `qemu-system.* -name gureum-${id}`]).catch(() => ({ stdout: '' }));
      const pids = stdout.split('\n').filter(Boolean).map(Number);
      return pids.length === 1 ? pids[0] : undefined;
    },
    { timeoutMs: 10_000, what: `the QEMU of ${id}` },
  );
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const uid = await hostUid(QEMU_USER);
  expect(uid).toBeGreaterThan(0);
  expect(await uidsOf(pid)).toEqual([uid, uid, uid, uid]);
  expect(/^Seccomp:\s+(\d+)$/m.exec(status)?.[1]).toBe('2'); // 2 = filter mode
  expect(/^CapEff:\s+(\S+)$/m.exec(status)?.[1]).toBe('0000000000000000');
  expect(/^NoNewPrivs:\s+(\d+)$/m.exec(status)?.[1]).toBe('1');

  const stateDir = system.agentStateDir();
  const vmDir = path.join(stateDir, 'vms', id);
  for (const file of ['disk.qcow2', 'console.log', 'qemu.pid', 'vm.json', 'qemu.stderr']) {
    const info = await stat(path.join(vmDir, file));
    expect({ file, mode: (info.mode & 0o777).toString(8) }).toEqual({ file, mode: '600' });
  }
  // What QEMU opens itself is its own; the agent's record is not.
  expect((await stat(path.join(vmDir, 'disk.qcow2'))).uid).toBe(uid);
  expect((await stat(path.join(vmDir, 'vm.json'))).uid).toBe(0);
  for (const dir of [stateDir, path.join(stateDir, 'vms'), vmDir]) {
    const mode = (await stat(dir)).mode & 0o777;
    // Nothing for others; the QEMU user's group may only traverse (0710), never list or create.
    expect({ dir, others: mode & 0o007, group: (mode & 0o070).toString(8) }).toEqual({ dir, others: 0, group: expect.stringMatching(/^(0|10)$/) });
  }
});
