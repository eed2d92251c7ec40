import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  OCI_IMAGE_MANIFEST_MEDIA_TYPE,
  VM_DISK_QCOW2_MEDIA_TYPE,
  VM_INITRD_MEDIA_TYPE,
  VM_KERNEL_MEDIA_TYPE,
  VM_TEMPLATE_ARTIFACT_TYPE,
  VM_TEMPLATE_CONFIG_MEDIA_TYPE,
  type VmTemplateConfig,
} from '@gureum/contracts';
import { OciClientError, OciRegistryClient, pullVmTemplate, pushVmTemplate, sha256Of } from '@gureum/oci-client';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@gureum/testing';
import { startRegistryUnderTest, type RegistryUnderTest } from './testing/registry-under-test';

/**
 * VM templates as OCI artifacts, pushed and pulled with `@gureum/oci-client` (the library the
 * VM driver uses) against the registry in-process with real PostgreSQL and nats-server.
 */

let database: TestDatabase;
let nats: TestNats;
let registry: RegistryUnderTest;
let work: string;
let host: string;
const files = { kernel: Buffer.alloc(0), initrd: Buffer.alloc(0), disk: Buffer.alloc(0) };
const config: VmTemplateConfig = { arch: 'x86_64', vcpusMin: 1, memoryMiBMin: 128, bootMode: 'kernel', cmdline: 'console=ttyS0 quiet' };

const tenantIds = new Map<string, string>();
function tenant(tenantName: string): { username: string; password: string } {
  const key = `grm_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const tenantId = tenantIds.get(tenantName) ?? randomUUID();
  tenantIds.set(tenantName, tenantId);
  registry.identity.add(key, { principalId: `key-${randomUUID().slice(0, 8)}`, kind: 'api_key', tenantId, tenantName, role: 'owner' });
  return { username: tenantName, password: key };
}

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('registry_vm_templates'), startNats()]);
  registry = await startRegistryUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control });
  host = new URL(registry.url).host;
  work = await mkdtemp(join(tmpdir(), 'gureum-vm-template-'));
  files.kernel = randomBytes(300 * 1024);
  files.initrd = randomBytes(100 * 1024);
  // Bigger than one stream chunk, so streaming and verification run over many chunks.
  files.disk = randomBytes(3 * 1024 * 1024 + 17);
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(work, name), bytes);
});

afterAll(async () => {
  await registry?.close();
  await nats?.stop();
  await database?.drop();
  if (work) await rm(work, { recursive: true, force: true });
});

const paths = () => ({ kernel: join(work, 'kernel'), initrd: join(work, 'initrd'), disk: join(work, 'disk') });

describe('VM templates as OCI artifacts', () => {
  it('push and pull back byte-identical files and config, then serve the same template from the cache', async () => {
    const acme = tenant('acme');
    const pushed = await pushVmTemplate(`${host}/acme/vm-guest:latest`, acme, { config, files: paths() });
    expect(pushed.manifest.artifactType).toBe(VM_TEMPLATE_ARTIFACT_TYPE);
    expect(pushed.manifest.config.mediaType).toBe(VM_TEMPLATE_CONFIG_MEDIA_TYPE);
    expect(pushed.manifest.layers.map((layer) => layer.mediaType)).toEqual([VM_KERNEL_MEDIA_TYPE, VM_INITRD_MEDIA_TYPE, VM_DISK_QCOW2_MEDIA_TYPE]);

    const cache = join(work, 'cache-1');
    const pulled = await pullVmTemplate(`${host}/acme/vm-guest:latest`, acme, cache);
    expect(pulled.digest).toBe(pushed.digest);
    expect(pulled.cached).toBe(false);
    expect(pulled.config).toEqual(config);
    expect((await readFile(pulled.kernel as string)).equals(files.kernel)).toBe(true);
    expect((await readFile(pulled.initrd as string)).equals(files.initrd)).toBe(true);
    expect((await readFile(pulled.disk as string)).equals(files.disk)).toBe(true);
    // The directory is a VM driver template: template.json names the files and the command line.
    expect(JSON.parse(await readFile(join(pulled.dir, 'template.json'), 'utf8'))).toEqual(
      expect.objectContaining({ kernel: 'vmlinuz', initrd: 'initrd', disk: 'disk.qcow2', cmdline: config.cmdline, digest: pushed.digest }),
    );

    // Again by tag: the manifest is fetched, the layers are not.
    expect((await pullVmTemplate(`${host}/acme/vm-guest:latest`, acme, cache)).cached).toBe(true);
    // By digest: the manifest is still asked of the registry (the cache is shared by every
    // tenant of the host), and the layers come from the cache.
    const byDigest = await pullVmTemplate(`${host}/acme/vm-guest@${pushed.digest}`, acme, cache);
    expect(byDigest).toEqual(expect.objectContaining({ digest: pushed.digest, cached: true, disk: pulled.disk }));
    // Refused credentials are refused even though the template sits in the cache.
    await expect(pullVmTemplate(`${host}/acme/vm-guest@${pushed.digest}`, { username: 'acme', password: 'wrong' }, cache)).rejects.toThrow(OciClientError);
  });

  it("never hands another tenant's cached template out on its digest (issue 20, hole 3)", async () => {
    const owner = tenant('initech');
    const pushed = await pushVmTemplate(`${host}/initech/private-guest:1`, owner, { config, files: paths() });
    const cache = join(work, 'cache-shared');
    await pullVmTemplate(`${host}/initech/private-guest:1`, owner, cache);

    // Another tenant names the digest through its own namespace (where it may pull) and
    // through the owner's repository (where it may not): both refused, nothing handed out.
    const intruder = tenant('hooli');
    for (const ref of [`${host}/hooli/anything@${pushed.digest}`, `${host}/initech/private-guest@${pushed.digest}`]) {
      await expect(pullVmTemplate(ref, intruder, cache)).rejects.toThrow(OciClientError);
    }
    // Anonymous, too.
    await expect(pullVmTemplate(`${host}/initech/private-guest@${pushed.digest}`, { anonymous: true }, cache)).rejects.toThrow(OciClientError);
    // The registry itself: B's namespace does not hold the digest (404), A's refuses B (403).
    const client = new OciRegistryClient(registry.url, intruder);
    expect((await client.send('HEAD', `/v2/hooli/anything/manifests/${pushed.digest}`, 'repository:hooli/anything:pull')).status).toBe(404);
    expect((await client.send('HEAD', `/v2/initech/private-guest/manifests/${pushed.digest}`, 'repository:initech/private-guest:pull')).status).toBe(403);
    for (const layer of pushed.manifest.layers) {
      expect((await client.send('HEAD', `/v2/hooli/anything/blobs/${layer.digest}`, 'repository:hooli/anything:pull')).status).toBe(404);
    }
  });

  it('appears in the tag list and the referrers API like any artifact, and counts against the quota', async () => {
    const globex = tenant('globex');
    const first = await pushVmTemplate(`${host}/globex/templates:v1`, globex, { config, files: paths() });
    const diskOnly = { ...config, bootMode: 'disk' as const, cmdline: '' };
    const second = await pushVmTemplate(`${host}/globex/templates:v2`, globex, { config: diskOnly, files: { disk: paths().disk } });
    const client = new OciRegistryClient(registry.url, globex);
    expect((await client.listTags('globex/templates')).sort()).toEqual(['v1', 'v2']);

    // A signature-like referrer of the template, found by artifactType.
    const note = Buffer.from('{"signed":true}');
    const noteDigest = (await client.pushBlob('globex/templates', { bytes: note })).digest;
    const emptyConfig = Buffer.from('{}');
    await client.pushBlob('globex/templates', { bytes: emptyConfig });
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_IMAGE_MANIFEST_MEDIA_TYPE,
        artifactType: 'application/vnd.gureum.vm.template.attestation.v1+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Of(emptyConfig), size: emptyConfig.length },
        layers: [{ mediaType: 'application/json', digest: noteDigest, size: note.length }],
        subject: { mediaType: OCI_IMAGE_MANIFEST_MEDIA_TYPE, digest: first.digest, size: Buffer.from(JSON.stringify(first.manifest)).length },
      }),
    );
    const referrerDigest = await client.pushManifest('globex/templates', sha256Of(referrer), referrer, OCI_IMAGE_MANIFEST_MEDIA_TYPE);
    const referrers = await client.send('GET', `/v2/globex/templates/referrers/${first.digest}?artifactType=application/vnd.gureum.vm.template.attestation.v1%2Bjson`, 'repository:globex/templates:pull');
    const index = JSON.parse((await referrers.buffer()).toString('utf8')) as { manifests: Array<{ digest: string; artifactType: string }> };
    expect(index.manifests).toEqual([expect.objectContaining({ digest: referrerDigest, artifactType: 'application/vnd.gureum.vm.template.attestation.v1+json' })]);

    // Quota: every distinct blob once (the disk is shared by both templates) plus configs and manifests.
    const usage = await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'globex', quotaBytes: null });
    const manifestBytes = (manifest: object) => Buffer.from(JSON.stringify(manifest)).length;
    const expected =
      files.kernel.length +
      files.initrd.length +
      files.disk.length +
      first.manifest.config.size +
      second.manifest.config.size +
      manifestBytes(first.manifest) +
      manifestBytes(second.manifest) +
      note.length +
      emptyConfig.length +
      referrer.length;
    expect(usage.usedBytes).toBe(expected);
  });

  it('refuses a template over the quota with DENIED, keeping nothing counted', async () => {
    const small = tenant('small');
    await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'small', quotaBytes: 1024 * 1024 });
    const error = await pushVmTemplate(`${host}/small/vm:latest`, small, { config, files: paths() }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OciClientError);
    expect((error as OciClientError).code).toBe('DENIED');
    const usage = await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'small', quotaBytes: 1024 * 1024 });
    // Kernel and initrd fit; the disk did not and is not counted.
    expect(usage.usedBytes).toBe(files.kernel.length + files.initrd.length);
  });

  it('is pullable anonymously once public', async () => {
    const initech = tenant('initech');
    const pushed = await pushVmTemplate(`${host}/initech/public-vm:1`, initech, { config, files: { kernel: paths().kernel } });
    await expect(pullVmTemplate(`${host}/initech/public-vm:1`, { anonymous: true }, join(work, 'anon-denied'))).rejects.toThrow(/403|DENIED/);
    await registry.control.request('registry.cmd.repository.visibility.v1', { name: 'initech/public-vm', public: true });
    const pulled = await pullVmTemplate(`${host}/initech/public-vm:1`, { anonymous: true }, join(work, 'anon'));
    expect(pulled.digest).toBe(pushed.digest);
    expect((await readFile(pulled.kernel as string)).equals(files.kernel)).toBe(true);
    expect(pulled.initrd).toBeNull();
  });

  it('rejects content that does not match its digest and keeps none of it', async () => {
    const hooli = tenant('hooli');
    const pushed = await pushVmTemplate(`${host}/hooli/vm:1`, hooli, { config, files: { kernel: paths().kernel } });
    const kernel = pushed.manifest.layers[0]?.digest as string;
    const hex = kernel.slice('sha256:'.length);
    // Damage the bytes at rest in the registry's store, same length.
    const stored = join(registry.storageDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
    const damaged = Buffer.from(files.kernel);
    damaged[1000] = (damaged[1000] as number) ^ 0xff;
    await writeFile(stored, damaged);
    const cache = join(work, 'cache-damaged');
    await expect(pullVmTemplate(`${host}/hooli/vm:1`, hooli, cache)).rejects.toThrow(/arrived with digest/);
    expect(await readdir(join(cache, 'blobs', 'sha256'))).toEqual([]);
    expect(await readdir(join(cache, 'templates')).catch(() => [])).toEqual([]);
    await writeFile(stored, files.kernel);
  });

  it('refuses to treat a container image as a VM template', async () => {
    const umbrella = tenant('umbrella');
    const client = new OciRegistryClient(registry.url, umbrella);
    const layer = randomBytes(100);
    const imageConfig = Buffer.from('{"architecture":"amd64","os":"linux"}');
    await client.pushBlob('umbrella/app', { bytes: layer });
    await client.pushBlob('umbrella/app', { bytes: imageConfig });
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_IMAGE_MANIFEST_MEDIA_TYPE,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Of(imageConfig), size: imageConfig.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256Of(layer), size: layer.length }],
      }),
    );
    await client.pushManifest('umbrella/app', 'v1', manifest, OCI_IMAGE_MANIFEST_MEDIA_TYPE);
    await expect(pullVmTemplate(`${host}/umbrella/app:v1`, umbrella, join(work, 'not-a-template'))).rejects.toThrow(/is not a VM template/);
  });

  it('deploy/images/push-vm-template.mjs pushes a vm-guest.sh template directory as <tenant>/vm-guest:latest', async () => {
    const run = promisify(execFile);
    const root = resolve(__dirname, '../../..');
    // The script runs the built library, as it does after `npm run build`.
    for (const project of ['libs/contracts', 'libs/oci-client']) await run(process.execPath, ['tools/build.mjs', project], { cwd: root });
    const guest = join(work, 'guest');
    await rm(guest, { recursive: true, force: true });
    await mkdir(guest);
    await writeFile(join(guest, 'vmlinuz'), files.kernel);
    await writeFile(join(guest, 'initrd.gz'), files.initrd);
    await writeFile(join(guest, 'disk.qcow2'), files.disk);
    await writeFile(join(guest, 'template.json'), JSON.stringify({ name: 'tiny', kernel: 'vmlinuz', initrd: 'initrd.gz', disk: 'disk.qcow2', cmdline: 'console=ttyS0 quiet' }));
    const demo = tenant('demo');
    const { stdout } = await run(process.execPath, ['deploy/images/push-vm-template.mjs', '--tenant', 'demo', '--registry', host, '--dir', guest], {
      cwd: root,
      env: { ...process.env, GUREUM_API_KEY: demo.password },
    });
    expect(stdout).toMatch(/^pushed .*\/demo\/vm-guest:latest@sha256:[a-f0-9]{64} \(3 layers/);
    const pulled = await pullVmTemplate(`${host}/demo/vm-guest:latest`, demo, join(work, 'cache-script'));
    expect(pulled.config).toEqual({ arch: 'x86_64', vcpusMin: 1, memoryMiBMin: 128, bootMode: 'kernel', cmdline: 'console=ttyS0 quiet' });
    expect((await readFile(pulled.initrd as string)).equals(files.initrd)).toBe(true);
    expect((await readFile(pulled.disk as string)).equals(files.disk)).toBe(true);
  });
});
