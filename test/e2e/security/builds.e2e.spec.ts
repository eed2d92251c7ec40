/**
 * Adversarial builds (issue 20, holes 1 and 2, the build items of 8, the image-label side of 4).
 *
 * Tenant A has a private image with a secret file, and it is in the build host's Docker cache
 * (A pushed it from this engine). Tenant B tries every way the old builder let it read that
 * image — an ARG-substituted FROM, COPY --from, an escape directive continuing FROM onto the
 * next line, a tar with two Dockerfiles, a FROM by short image id — and to reach a loopback
 * HTTP server from ADD and from RUN. Each must fail (refused by the api, or the build fails),
 * the secret must never show in B's build log, and nothing may land in B's namespace. RUN
 * steps run as an unprivileged host uid under a pids limit, and neither a commit nor a build
 * produces an image carrying the agent's `io.gureum.*` labels.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUSYBOX_IMAGE, ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Problem, type Workload } from '../support/api-client';
import { DockerCli } from '../support/docker-cli';
import { System, type TenantCredentials } from '../support/system';

const system = new System({ label: 'security-builds', agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 }, registry: true });
const SECRET = `secret-${randomBytes(12).toString('hex')}`;
/** What the loopback server answers; B must never see it. */
const LOOPBACK_MARKER = `loopback-${randomBytes(12).toString('hex')}`;

let owner: TenantCredentials;
let attacker: TenantCredentials;
let ownerApi: ApiClient;
let attackerApi: ApiClient;
let ownerCli: DockerCli;
let attackerCli: DockerCli;
let secretImage = '';
let secretImageId = '';
let server: Server;
let serverPort = 0;
const serverHits: string[] = [];
const localTags: string[] = [];

interface Build {
  id: string;
  state: string;
  image: string;
  digest: string | null;
  error: string | null;
}

beforeAll(async () => {
  await ensureBusyboxImage();
  server = createServer((req, res) => {
    serverHits.push(req.url ?? '');
    res.end(LOOPBACK_MARKER);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverPort = (server.address() as AddressInfo).port;

  await system.start({ GUREUM_BUILD_CPU_MILLIS: '500', GUREUM_BUILD_MEMORY_MIB: '256' });
  owner = await system.createTenant('sbxacme');
  attacker = await system.createTenant('sbxevil');
  ownerApi = new ApiClient(system.apiUrl, owner.apiKey);
  attackerApi = new ApiClient(system.apiUrl, attacker.apiKey);
  ownerCli = await DockerCli.create();
  attackerCli = await DockerCli.create();
  await ownerCli.ok(['login', system.registryAddress, '--username', owner.name, '--password-stdin'], owner.apiKey);
  await attackerCli.ok(['login', system.registryAddress, '--username', attacker.name, '--password-stdin'], attacker.apiKey);

  // A's private image, built on the shared engine and left in its cache (as after any pull by A's workload).
  secretImage = `${system.registryAddress}/${owner.name}/vault:1`;
  localTags.push(secretImage);
  await ownerCli.ok(['build', '--network', 'none', '-t', secretImage, '-'], tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN echo ${SECRET} > /secret\n` }));
  await ownerCli.ok(['push', secretImage]);
  secretImageId = (await ownerCli.ok(['image', 'inspect', '-f', '{{.Id}}', secretImage])).trim().replace(/^sha256:/, '');
  expect(secretImageId).toMatch(/^[a-f0-9]{64}$/);
  // B may not pull it: the registry says so.
  expect((await attackerCli.run(['pull', secretImage])).code).not.toBe(0);
}, 240_000);

afterAll(async () => {
  for (const tag of localTags) await ownerCli?.run(['rmi', '-f', tag]);
  await system.stop();
  await ownerCli?.dispose();
  await attackerCli?.dispose();
  await new Promise((resolve) => server?.close(resolve));
}, 60_000);

function tarOf(files: Record<string, string | Buffer>): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'gureum-sec-ctx-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
    return execFileSync('tar', ['-C', dir, '-c', ...Object.keys(files)], { maxBuffer: 64 * 1024 * 1024 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A tar with two entries named Dockerfile: `first`, then `./Dockerfile` with `second`. */
function tarWithTwoDockerfiles(first: string, second: string): Buffer {
  const one = mkdtempSync(path.join(tmpdir(), 'gureum-sec-ctx-'));
  const two = mkdtempSync(path.join(tmpdir(), 'gureum-sec-ctx-'));
  const out = path.join(one, 'out.tar');
  try {
    writeFileSync(path.join(one, 'Dockerfile'), first);
    writeFileSync(path.join(two, 'Dockerfile'), second);
    execFileSync('tar', ['-C', one, '-cf', out, 'Dockerfile']);
    execFileSync('tar', ['-C', two, '-rf', out, './Dockerfile']);
    return execFileSync('cat', [out], { maxBuffer: 64 * 1024 * 1024 });
  } finally {
    rmSync(one, { recursive: true, force: true });
    rmSync(two, { recursive: true, force: true });
  }
}

async function postBuild(apiKey: string, repository: string, tag: string, body: Buffer) {
  const res = await fetch(`${system.apiUrl}/v1/builds?repository=${encodeURIComponent(repository)}&tag=${tag}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/x-tar' },
    body,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as Build & Problem };
}

async function waitForBuild(api: ApiClient, id: string, timeoutMs = 150_000): Promise<Build> {
  return waitFor(
    async () => {
      const res = await api.call<Build>('GET', `/v1/builds/${id}`);
      return res.status === 200 && (res.body.state === 'succeeded' || res.body.state === 'failed') ? res.body : undefined;
    },
    { timeoutMs, what: `build ${id} finished` },
  );
}

/**
 * B posts `context` for `<B>/<name>:1`. Either the api refuses it (4xx, nothing stored) or the
 * build fails; either way the secret is nowhere in what B can read and B's repository is empty.
 */
async function expectAttackFails(name: string, context: Buffer, forbidden: string[] = [SECRET]): Promise<{ refused: boolean; log: string; error: string | null }> {
  const accepted = await postBuild(attacker.apiKey, `${attacker.name}/${name}`, '1', context);
  let log = '';
  let error: string | null = null;
  let refused = false;
  if (accepted.status === 202) {
    const done = await waitForBuild(attackerApi, accepted.body.id);
    const logRes = await attackerApi.call<{ log: string }>('GET', `/v1/builds/${accepted.body.id}/log`);
    log = logRes.body.log;
    error = done.error;
    expect({ state: done.state, log }).toMatchObject({ state: 'failed' });
  } else {
    refused = true;
    expect(accepted.status).toBeGreaterThanOrEqual(400);
    expect(accepted.status).toBeLessThan(500);
    expect(accepted.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(typeof accepted.body.code).toBe('string');
    error = accepted.body.detail ?? null;
  }
  process.stdout.write(`attack ${name}: ${refused ? `refused: ${error}` : `build failed: ${error}`}\n`);
  for (const secret of forbidden) {
    expect(log).not.toContain(secret);
    expect(error ?? '').not.toContain(secret);
  }
  // Nothing in B's namespace: B's own pull of the target finds no manifest.
  const pulled = await attackerCli.run(['pull', `${system.registryAddress}/${attacker.name}/${name}:1`]);
  expect(pulled.code).not.toBe(0);
  expect(pulled.stderr).toMatch(/manifest unknown|not found/i);
  return { refused, log, error };
}

describe('a build sees only the images its tenant may pull', () => {
  it('the host engine asks the registry before it serves a pull, even by digest of a cached image', async () => {
    // Why the agent may pull the authorised images on the host engine: the registry decides.
    const repoDigest = (await ownerCli.ok(['image', 'inspect', '-f', '{{index .RepoDigests 0}}', secretImage])).trim();
    expect(repoDigest).toMatch(/@sha256:[a-f0-9]{64}$/);
    const anonymous = await DockerCli.create();
    try {
      const pulled = await anonymous.run(['pull', repoDigest]);
      expect(pulled.code).not.toBe(0);
      expect(pulled.stderr).toMatch(/denied|unauthorized|authentication required/i);
    } finally {
      await anonymous.dispose();
    }
  }, 60_000);

  it('an ARG default substituted into FROM does not reach the private image', async () => {
    await expectAttackFails('arg', tarOf({ Dockerfile: `ARG BASE=${secretImage}\nFROM \${BASE}\nRUN cat /secret\n` }));
  }, 200_000);

  it('COPY --from=<private image> does not reach it', async () => {
    await expectAttackFails('copyfrom', tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nCOPY --from=${secretImage} /secret /stolen\nRUN cat /stolen\n` }));
  }, 200_000);

  it('an escape directive continuing FROM onto the next line does not reach it', async () => {
    await expectAttackFails('escape', tarOf({ Dockerfile: `# escape=\`\nFROM \`\n  ${secretImage}\nRUN cat /secret\n` }));
  }, 200_000);

  it('a context with two Dockerfile entries does not reach it', async () => {
    await expectAttackFails('twofiles', tarWithTwoDockerfiles(`FROM ${BUSYBOX_IMAGE}\n`, `FROM ${secretImage}\nRUN cat /secret\n`));
  }, 200_000);

  it('the sandbox holds no host image it was not given, even one the api lets through', async () => {
    // The same secret under a name outside our registry (as any image cached on a build host
    // may be): the api has no tenant to check it against, so only the sandbox stands between.
    const hostOnly = `gureum-sec-hostonly/vault:${randomBytes(4).toString('hex')}`;
    await ownerCli.ok(['tag', secretImage, hostOnly]);
    localTags.push(hostOnly);
    const from = await expectAttackFails('hostfrom', tarOf({ Dockerfile: `FROM ${hostOnly}\nRUN cat /secret\n` }));
    expect(from.refused).toBe(false);
    const copy = await expectAttackFails('hostcopy', tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nCOPY --from=${hostOnly} /secret /stolen\nRUN cat /stolen\n` }));
    expect(copy.refused).toBe(false);
  }, 200_000);

  it('FROM a short image id of the private image does not reach it', async () => {
    await expectAttackFails('shortid', tarOf({ Dockerfile: `FROM ${secretImageId.slice(0, 12)}\nRUN cat /secret\n` }));
  }, 200_000);
});

describe('a build reaches no network', () => {
  it('ADD http://127.0.0.1:<port> fetches nothing', async () => {
    const before = serverHits.length;
    await expectAttackFails('addurl', tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nADD http://127.0.0.1:${serverPort}/add /fetched\nRUN cat /fetched\n` }), [SECRET, LOOPBACK_MARKER]);
    // The build has ended (or was refused): a fetch it made would have been received by now.
    expect(serverHits.slice(before)).toEqual([]);
  }, 200_000);

  it('a RUN step cannot reach a loopback server either', async () => {
    const before = serverHits.length;
    const result = await expectAttackFails(
      'runurl',
      tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN wget -q -T 5 -O /fetched http://127.0.0.1:${serverPort}/run; cat /fetched; test -s /fetched || exit 7\n` }),
      [SECRET, LOOPBACK_MARKER],
    );
    expect(result.refused).toBe(false);
    expect(result.error).toMatch(/non-zero code: 7/);
    expect(serverHits.slice(before)).toEqual([]);
  }, 200_000);
});

describe('RUN steps are confined', () => {
  it('runs as an unprivileged host uid and under a pids limit', async () => {
    const uidMap = await postBuild(attacker.apiKey, `${attacker.name}/uidmap`, '1', tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN echo "uidmap:$(head -n1 /proc/self/uid_map | tr -s ' ' ':')"\n` }));
    expect(uidMap.status).toBe(202);
    const mapped = await waitForBuild(attackerApi, uidMap.body.id);
    expect(mapped.state).toBe('succeeded');
    const mapLog = (await attackerApi.call<{ log: string }>('GET', `/v1/builds/${uidMap.body.id}/log`)).body.log;
    const match = /uidmap::?0:(\d+):(\d+)/.exec(mapLog);
    expect(match).not.toBeNull();
    // uid 0 inside is a high, unprivileged uid outside, and the range does not cover host root.
    expect(Number(match?.[1])).toBeGreaterThan(0);

    // Far more processes than the build's pids limit (256 by default): forking must fail inside the step.
    const forks = await postBuild(
      attacker.apiKey,
      `${attacker.name}/forks`,
      '1',
      tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nRUN n=0; while [ $n -lt 600 ]; do sleep 3 & n=$((n+1)); done; echo "forked:$n"\n` }),
    );
    expect(forks.status).toBe(202);
    const forked = await waitForBuild(attackerApi, forks.body.id);
    const forkLog = (await attackerApi.call<{ log: string }>('GET', `/v1/builds/${forks.body.id}/log`)).body.log;
    expect(forkLog).not.toContain('forked:600');
    expect(forkLog).toMatch(/can't fork|Resource temporarily unavailable|Cannot allocate memory/i);
    expect(forked.state).toBe('failed');
  }, 240_000);
});

describe('images carry no io.gureum.* labels', () => {
  async function labelsOf(cli: DockerCli, image: string): Promise<Record<string, string>> {
    await cli.run(['rmi', '-f', image]);
    await cli.ok(['pull', image]);
    localTags.push(image);
    return (JSON.parse((await cli.ok(['image', 'inspect', '-f', '{{json .Config.Labels}}', image])).trim()) ?? {}) as Record<string, string>;
  }

  it("a commit's image does not carry the source container's io.gureum.* labels", async () => {
    const created = await ownerApi.createWorkload(containerSpec('to-commit', { resources: { cpuMillis: 50, memoryMiB: 32, pids: 32 }, command: ['sh', '-c', 'while true; do sleep 1; done'] }));
    expect(created.status).toBe(201);
    await waitFor(
      async () => {
        const res = await ownerApi.getWorkload(created.body.id);
        return res.body.state === 'running' ? res.body : undefined;
      },
      { timeoutMs: 60_000, what: 'workload running' },
    );
    const committed = await ownerApi.call<{ image: string; digest: string } & Problem>('POST', `/v1/workloads/${created.body.id}/commit`, { repository: `${owner.name}/snap`, tag: 'v1' });
    expect(committed.status).toBe(201);
    const labels = await labelsOf(ownerCli, committed.body.image);
    expect(Object.keys(labels).filter((key) => key.startsWith('io.gureum.'))).toEqual([]);
    await ownerApi.call<Workload>('DELETE', `/v1/workloads/${created.body.id}`);
  }, 180_000);

  it("a build's image does not carry io.gureum.* labels, and a Dockerfile may not set one", async () => {
    const accepted = await postBuild(owner.apiKey, `${owner.name}/plain`, '1', tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nLABEL org.example.kind=plain\nRUN echo ok\n` }));
    expect(accepted.status).toBe(202);
    const done = await waitForBuild(ownerApi, accepted.body.id);
    expect({ state: done.state, error: done.error }).toEqual({ state: 'succeeded', error: null });
    const labels = await labelsOf(ownerCli, accepted.body.image);
    expect(labels['org.example.kind']).toBe('plain');
    expect(Object.keys(labels).filter((key) => key.startsWith('io.gureum.'))).toEqual([]);

    const forged = await postBuild(
      attacker.apiKey,
      `${attacker.name}/forged`,
      '1',
      tarOf({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nLABEL io.gureum.managed=true io.gureum.node=${system.nodeId}\n` }),
    );
    expect(forged.status).toBe(400);
    expect(forged.body.code).toBe('validation_failed');
    expect(forged.body.detail).toMatch(/reserved_label: .*io\.gureum\./);
  }, 200_000);
});
