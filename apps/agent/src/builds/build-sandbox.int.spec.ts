/**
 * The build sandbox on the real machine: a dockerd of its own in an empty network namespace.
 * It holds no image but what is loaded into it (a host image it was not given is absent), a
 * build in it reaches no loopback server (neither ADD <url> by the daemon nor RUN), steps run
 * under the sandbox's pids limit as a remapped uid, and dispose (or the reaping of a sandbox a
 * crashed agent left) removes its daemon, network namespace, directories and cgroup.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '@gureum/testing';
import pino from 'pino';
import { DockerodeEngine } from '../driver/docker/dockerode.engine';
import { DockerdSandboxFactory, type BuildSandbox } from './build-sandbox';

jest.setTimeout(180_000);

const host = new DockerodeEngine();
const logger = pino({ level: 'silent' });
const nodeId = `sbx-int-${randomBytes(4).toString('hex')}`;
const hidden = `gureum-sandbox-int/hidden:${randomBytes(4).toString('hex')}`;
let stateDir: string;
let dataDir: string;
let server: Server;
let port = 0;
const hits: string[] = [];

function tarOf(files: Record<string, string>): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'gureum-sbx-ctx-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
    return execFileSync('tar', ['-C', dir, '-c', ...Object.keys(files)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function netnsList(): string {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
}

async function build(sandbox: BuildSandbox, dockerfile: string): Promise<{ ok: boolean; log: string }> {
  let log = '';
  try {
    await sandbox.engine.buildImage(tarOf({ Dockerfile: dockerfile }), { tag: `sbx/test:${randomBytes(3).toString('hex')}`, cpuMillis: 500, memoryMiB: 256, labels: {} }, (text) => (log += text));
    return { ok: true, log };
  } catch (error) {
    return { ok: false, log: `${log}\n${error instanceof Error ? error.message : String(error)}` };
  }
}

beforeAll(async () => {
  await ensureBusyboxImage();
  execFileSync('docker', ['tag', BUSYBOX_IMAGE, hidden]);
  stateDir = mkdtempSync(path.join(tmpdir(), 'gureum-sbx-state-'));
  chmodSync(stateDir, 0o711);
  dataDir = path.join(stateDir, 'sandboxes');
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.end('reached');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  spawnSync('docker', ['rmi', hidden]);
  await new Promise((resolve) => server?.close(resolve));
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

describe('DockerdSandboxFactory', () => {
  it('starts empty and sees only what is loaded, reaches no network, confines RUN, and is removed whole', async () => {
    const factory = new DockerdSandboxFactory({ dataDir, nodeId, logger });
    const sandbox = await factory.create('build-1', { cpuMillis: 500, memoryMiB: 256, pids: 64 });
    const sandboxDirs = readdirSync(dataDir);
    expect(sandboxDirs).toHaveLength(1);
    const key = sandboxDirs[0]!;
    try {
      expect(netnsList()).toContain(`gb${key}`);
      // Nothing from the host engine is there, not even the image the host has.
      expect(await (sandbox.engine as DockerodeEngine).listImageTags()).toEqual([]);
      await sandbox.engine.loadImage(await host.saveImage(BUSYBOX_IMAGE));
      expect(await (sandbox.engine as DockerodeEngine).listImageTags()).toEqual([BUSYBOX_IMAGE]);

      const hiddenBuild = await build(sandbox, `FROM ${hidden}\nRUN true\n`);
      expect(hiddenBuild.ok).toBe(false);
      // Absent, and nowhere to pull it from.
      expect(hiddenBuild.log).toMatch(/network is unreachable|pull access denied|repository does not exist/);
      const hiddenCopy = await build(sandbox, `FROM ${BUSYBOX_IMAGE}\nCOPY --from=${hidden} /bin/busybox /stolen\n`);
      expect(hiddenCopy.ok).toBe(false);

      const add = await build(sandbox, `FROM ${BUSYBOX_IMAGE}\nADD http://127.0.0.1:${port}/add /fetched\n`);
      expect(add.ok).toBe(false);
      expect(add.log).toMatch(/connection refused|network is unreachable/);
      const runFetch = await build(sandbox, `FROM ${BUSYBOX_IMAGE}\nRUN wget -q -T 3 -O- http://127.0.0.1:${port}/run\n`);
      expect(runFetch.ok).toBe(false);
      expect(hits).toEqual([]);

      const confined = await build(
        sandbox,
        `FROM ${BUSYBOX_IMAGE}\nRUN echo "map:$(head -n1 /proc/self/uid_map | tr -s ' ' ':')"; n=0; while [ $n -lt 200 ]; do sleep 2 & n=$((n+1)); done; echo "forked:$n"\n`,
      );
      expect(confined.log).toMatch(/map::?0:[1-9]\d*:/);
      expect(confined.log).not.toContain('forked:200');
      expect(confined.ok).toBe(false);
    } finally {
      await sandbox.dispose();
    }
    expect(netnsList()).not.toContain(`gb${key}`);
    expect(readdirSync(dataDir)).toEqual([]);
    expect(existsSync(`/run/gureum-build/${key}`)).toBe(false);
    expect(existsSync(`/sys/fs/cgroup/pids/gureum-builds/${key}`)).toBe(false);
  });

  it('reaps a sandbox an earlier run of the agent left behind, and only its own', async () => {
    const crashed = new DockerdSandboxFactory({ dataDir, nodeId, logger });
    const left = await crashed.create('build-2', { cpuMillis: 500, memoryMiB: 128, pids: 32 });
    const other = await new DockerdSandboxFactory({ dataDir, nodeId: `${nodeId}-other`, logger }).create('build-3', { cpuMillis: 500, memoryMiB: 128, pids: 32 });
    try {
      const keys = readdirSync(dataDir);
      expect(keys).toHaveLength(2);
      // A new agent of the same node: its start removes the leftover, not the other node's.
      await new DockerdSandboxFactory({ dataDir, nodeId, logger }).reap();
      await expect(left.engine.ping()).rejects.toThrow();
      await expect(other.engine.ping()).resolves.toBeUndefined();
      expect(readdirSync(dataDir)).toHaveLength(1);
    } finally {
      await left.dispose();
      await other.dispose();
    }
    expect(readdirSync(dataDir)).toEqual([]);
  });
});
