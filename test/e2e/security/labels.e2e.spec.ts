/**
 * Issue 20, hole 4: the agent owns a container because it created it, never because of a
 * label. Image labels are inherited by every container made from the image (a build's RUN
 * step, a `docker run` on the host), so a tenant who writes `io.gureum.*` labels into an
 * image must not make the agent adopt — and then "de-duplicate" by destroying — another
 * tenant's container, nor report the forged one as the victim's.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUSYBOX_IMAGE, ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Workload, waitForWorkloadState } from '../support/api-client';
import { DockerCli } from '../support/docker-cli';
import { dockerInspect, System, type TenantCredentials } from '../support/system';

const system = new System({ label: 'security-labels', agentCapacity: { cpuMillis: 2000, memoryMiB: 1024, pids: 1024 }, registry: true });
let victim: TenantCredentials;
let attacker: TenantCredentials;
let victimApi: ApiClient;
let attackerApi: ApiClient;
let cli: DockerCli;
const localTags: string[] = [];
const forgedContainers: string[] = [];

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  victim = await system.createTenant('labelvictim');
  attacker = await system.createTenant('labelforger');
  victimApi = new ApiClient(system.apiUrl, victim.apiKey);
  attackerApi = new ApiClient(system.apiUrl, attacker.apiKey);
  cli = await DockerCli.create();
  await cli.ok(['login', system.registryAddress, '--username', attacker.name, '--password-stdin'], attacker.apiKey);
}, 180_000);

afterAll(async () => {
  for (const id of forgedContainers) await cli?.run(['rm', '-f', id]);
  for (const tag of localTags) await cli?.run(['rmi', '-f', tag]);
  await system.stop();
  await cli?.dispose();
}, 60_000);

function small(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return containerSpec(name, { resources: { cpuMillis: 50, memoryMiB: 32, pids: 32 }, ...overrides });
}

function waitForState(api: ApiClient, id: string, states: string[], timeoutMs = 60_000): Promise<Workload> {
  return waitForWorkloadState(api, id, states, { timeoutMs });
}

/** Reconcile passes the agent has finished so far (each logs one `reconciled` line). */
async function reconcilePasses(): Promise<number> {
  return ((await system.readLogs()).match(/"msg":"reconciled"/g) ?? []).length;
}

/** Waits until the agent has finished `passes` more passes than it had when called. */
async function waitForFreshPasses(passes: number): Promise<void> {
  const before = await reconcilePasses();
  await waitFor(async () => ((await reconcilePasses()) >= before + passes ? true : undefined), { timeoutMs: 60_000, what: `${passes} fresh reconcile passes` });
}

describe('forged io.gureum.* image labels', () => {
  it("neither destroy nor impersonate another tenant's running container", async () => {
    const created = await victimApi.createWorkload(small('victim'));
    expect(created.status).toBe(201);
    const running = await waitForState(victimApi, created.body.id, ['running']);
    const [victimContainer] = await system.containerIds({ 'io.gureum.workload': running.id });
    expect(victimContainer).toBeDefined();
    const before = await dockerInspect(victimContainer!);
    expect(before.running).toBe(true);

    // The attacker builds and pushes, with the stock docker CLI, an image whose labels name
    // the victim's workload, tenant and node.
    const image = `${system.registryAddress}/${attacker.name}/forged:1`;
    localTags.push(image);
    const context = mkdtempSync(path.join(tmpdir(), 'gureum-forged-'));
    try {
      writeFileSync(
        path.join(context, 'Dockerfile'),
        [
          `FROM ${BUSYBOX_IMAGE}`,
          `LABEL io.gureum.managed=true io.gureum.node=${system.nodeId} io.gureum.workload=${running.id} io.gureum.tenant=${victim.id} io.gureum.generation=999`,
          '',
        ].join('\n'),
      );
      await cli.ok(['build', '-q', '-t', image, context]);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
    await cli.ok(['push', image]);

    // 1. A container that inherits the labels without the agent creating it (as a build's RUN
    //    step container does): it looks like the victim's task by every label.
    const forged = (await cli.ok(['run', '-d', '--network', 'none', '--name', `forged-${randomBytes(4).toString('hex')}`, image, 'sleep', '600'])).trim();
    forgedContainers.push(forged);
    // 2. The attacker's own workload from that image, created by the agent.
    const own = await attackerApi.createWorkload(small('forger', { image }));
    expect(own.status).toBe(201);
    await waitForState(attackerApi, own.body.id, ['running']);

    // Wait for the passes that would have acted on the forged container, then look.
    await waitForFreshPasses(3);
    const after = await dockerInspect(victimContainer!);
    expect(after).toMatchObject({ running: true, startedAt: before.startedAt, pid: before.pid });
    expect(await system.containerIds({ 'io.gureum.workload': running.id, 'io.gureum.tenant': victim.id })).toEqual(expect.arrayContaining([victimContainer]));
    const victimNow = await victimApi.getWorkload(running.id);
    expect(victimNow.body).toMatchObject({ state: 'running', hostId: system.nodeId });
    // The forged container is left alone (not ours to remove) and was noticed.
    expect((await dockerInspect(forged)).running).toBe(true);
    expect(await system.readLogs()).toMatch(new RegExp(`"handleId":"${forged}"[^\\n]*not created by this agent`));
    // The attacker's container carries the agent's labels, not the image's.
    const [attackerContainer] = await system.containerIds({ 'io.gureum.workload': own.body.id });
    expect(attackerContainer).toBeDefined();
    const labels = JSON.parse(execFileSync('docker', ['inspect', '-f', '{{json .Config.Labels}}', attackerContainer!], { encoding: 'utf8' })) as Record<string, string>;
    expect(labels).toMatchObject({ 'io.gureum.workload': own.body.id, 'io.gureum.tenant': attacker.id });
  }, 240_000);
});
