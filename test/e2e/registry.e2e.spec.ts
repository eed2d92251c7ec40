/**
 * The stock Docker CLI (Debian's docker.io) against the registry: login with a tenant's API
 * key (verified by the real api over NATS), push, remove, pull back, run; another tenant is
 * refused. Each tenant gets its own
 * temporary DOCKER_CONFIG, so no credentials reach ~/.docker.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BUSYBOX_IMAGE, ensureBusyboxImage } from '@gureum/testing';
import { RegistrySystem, type RegistryTenant } from './support/registry-system';

const system = new RegistrySystem({ identity: 'api' });
const configDirs: string[] = [];
const createdTags: string[] = [];
let owner: RegistryTenant;
let other: RegistryTenant;
let ownerConfig: string;
let otherConfig: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function docker(configDir: string, args: string[], stdin?: string): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile('docker', args, { env: { PATH: process.env['PATH'], DOCKER_CONFIG: configDir, HOME: configDir }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: unknown }).code as number) || 1 : 0, stdout: String(stdout), stderr: String(stderr) });
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

async function ok(configDir: string, args: string[], stdin?: string): Promise<string> {
  const result = await docker(configDir, args, stdin);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${result.code}): ${result.stderr}\n--- registry log tail ---\n${(await system.readLog()).slice(-4000)}`);
  return result.stdout;
}

async function newConfigDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gureum-docker-config-'));
  configDirs.push(dir);
  return dir;
}

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  owner = await system.createTenant('acme');
  other = await system.createTenant('globex');
  ownerConfig = await newConfigDir();
  otherConfig = await newConfigDir();
}, 180_000);

afterAll(async () => {
  for (const tag of createdTags) await docker(ownerConfig ?? tmpdir(), ['rmi', '-f', tag]).catch(() => undefined);
  await system.stop();
  for (const dir of configDirs) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('docker CLI against the registry', () => {
  it('logs in with an API key and keeps the credential in the temporary DOCKER_CONFIG', async () => {
    const output = await ok(ownerConfig, ['login', system.url, '--username', owner.name, '--password-stdin'], owner.apiKey);
    expect(output).toMatch(/Login Succeeded/);
    const config = JSON.parse(await readFile(path.join(ownerConfig, 'config.json'), 'utf8')) as { auths?: Record<string, unknown> };
    expect(Object.keys(config.auths ?? {})).toEqual([system.url]);
    await ok(otherConfig, ['login', system.url, '--username', other.name, '--password-stdin'], other.apiKey);
    const refused = await docker(await newConfigDir(), ['login', system.url, '--username', owner.name, '--password-stdin'], `${owner.apiKey.slice(0, -4)}AAAA`);
    expect(refused.code).not.toBe(0);
  });

  it('pushes the base image, pulls it back after removing it, and runs it', async () => {
    const ref = `${system.url}/${owner.name}/busybox:1`;
    createdTags.push(ref);
    const originalId = (await ok(ownerConfig, ['image', 'inspect', '-f', '{{.Id}}', BUSYBOX_IMAGE])).trim();
    await ok(ownerConfig, ['tag', BUSYBOX_IMAGE, ref]);
    const pushed = await ok(ownerConfig, ['push', ref]);
    expect(pushed).toMatch(/digest: sha256:[a-f0-9]{64}/);
    await ok(ownerConfig, ['rmi', ref]);
    expect((await docker(ownerConfig, ['image', 'inspect', ref])).code).not.toBe(0);
    await ok(ownerConfig, ['pull', ref]);
    expect((await ok(ownerConfig, ['image', 'inspect', '-f', '{{.Id}}', ref])).trim()).toBe(originalId);
    expect((await ok(ownerConfig, ['run', '--rm', '--network', 'none', ref, 'echo', 'pulled-and-ran'])).trim()).toBe('pulled-and-ran');
  });

  it('round-trips a layer the engine does not have, downloading it from the registry', async () => {
    const ref = `${system.url}/${owner.name}/random:1`;
    createdTags.push(ref);
    const dir = await mkdtemp(path.join(tmpdir(), 'gureum-layer-'));
    configDirs.push(dir);
    const marker = randomBytes(16).toString('hex');
    await writeFile(path.join(dir, 'marker'), marker);
    await writeFile(path.join(dir, 'noise'), randomBytes(256 * 1024));
    await new Promise<void>((resolve, reject) => {
      const tar = execFile('tar', ['-C', dir, '-c', 'marker', 'noise'], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => {
        if (error) return reject(error);
        const load = execFile('docker', ['import', '-', ref], { env: { PATH: process.env['PATH'], DOCKER_CONFIG: ownerConfig } }, (importError) => (importError ? reject(importError) : resolve()));
        load.stdin?.end(stdout);
      });
      void tar;
    });
    await ok(ownerConfig, ['push', ref]);
    await ok(ownerConfig, ['rmi', ref]);
    const pulled = await ok(ownerConfig, ['pull', ref]);
    expect(pulled).toMatch(/Pull complete|Downloaded newer image/);
    const containerId = (await ok(ownerConfig, ['create', ref, 'true'])).trim();
    try {
      const copied = await new Promise<string>((resolve, reject) => {
        execFile('docker', ['cp', `${containerId}:/marker`, '-'], { env: { PATH: process.env['PATH'], DOCKER_CONFIG: ownerConfig } }, (error, stdout) =>
          error ? reject(error) : resolve(stdout),
        );
      });
      expect(copied).toContain(marker);
    } finally {
      await docker(ownerConfig, ['rm', '-f', containerId]);
    }
  });

  it("refuses another tenant's pull and push into the first tenant's namespace", async () => {
    const ref = `${system.url}/${owner.name}/busybox:1`;
    const pull = await docker(otherConfig, ['pull', ref]);
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toMatch(/denied|unauthorized/i);

    const intruder = `${system.url}/${owner.name}/intruder:1`;
    createdTags.push(intruder);
    await ok(otherConfig, ['tag', BUSYBOX_IMAGE, intruder]);
    const push = await docker(otherConfig, ['push', intruder]);
    expect(push.code).not.toBe(0);
    expect(push.stderr + push.stdout).toMatch(/denied|unauthorized/i);
  });

  it('lets anyone pull a public repository without logging in, and no one push into it', async () => {
    const ref = `${system.url}/${owner.name}/busybox:1`;
    const anonymousConfig = await newConfigDir();
    const before = await docker(anonymousConfig, ['pull', ref]);
    expect(before.code).not.toBe(0);
    await system.setPublic(`${owner.name}/busybox`, true);
    await ok(ownerConfig, ['rmi', ref]);
    await ok(anonymousConfig, ['pull', ref]);
    expect((await ok(anonymousConfig, ['run', '--rm', '--network', 'none', ref, 'echo', 'anonymous-pull'])).trim()).toBe('anonymous-pull');
    const intruder = `${system.url}/${owner.name}/busybox:hijacked`;
    createdTags.push(intruder);
    await ok(anonymousConfig, ['tag', BUSYBOX_IMAGE, intruder]);
    const push = await docker(anonymousConfig, ['push', intruder]);
    expect(push.code).not.toBe(0);
    await system.setPublic(`${owner.name}/busybox`, false);
  });

  it("lists the tenant's repositories, tags and bytes through GET /v1/images on the api", async () => {
    const response = await fetch(`${system.apiUrl}/v1/images`, { headers: { Authorization: `Bearer ${owner.apiKey}` } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { items: Array<{ name: string; bytes: number; tags: Array<{ name: string }> }>; storage: { usedBytes: number; quotaBytes: number } };
    expect(body.items.map((item) => item.name)).toEqual([`${owner.name}/busybox`, `${owner.name}/random`]);
    expect(body.items[0]?.tags.map((tag) => tag.name)).toEqual(['1']);
    expect(body.storage.usedBytes).toBe(body.items.reduce((sum, item) => sum + item.bytes, 0));
    expect(body.storage.usedBytes).toBeGreaterThan(256 * 1024);
    const others = await fetch(`${system.apiUrl}/v1/images`, { headers: { Authorization: `Bearer ${other.apiKey}` } });
    expect(((await others.json()) as { items: unknown[] }).items).toEqual([]);
  });
});
