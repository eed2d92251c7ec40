import { randomBytes, randomUUID } from 'node:crypto';
import type { Principal } from '@gureum/contracts';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@gureum/testing';
import { absolutePath, OciClient, sha256, withQuery, type OciResponse } from './testing/oci-client';
import { startRegistryUnderTest, type RegistryUnderTest } from './testing/registry-under-test';

/**
 * Public repositories (readable by every tenant and anonymously, writable by the owner only)
 * and the cross-repository mount rules, over HTTP against the registry in-process with real
 * PostgreSQL and nats-server. Anonymous means what Docker does without `docker login`: follow
 * the 401 challenge to the token realm with no Authorization header at all.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let database: TestDatabase;
let nats: TestNats;
let registry: RegistryUnderTest;
let acme: OciClient;
let globex: OciClient;
let globexViewer: OciClient;
let anonymous: OciClient;

/** One tenant id per tenant name (a namespace belongs to one tenant id). */
const tenantIds = new Map<string, string>();

function apiKey(): string {
  return `grm_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
}

function client(tenantName: string, role: Principal['role']): OciClient {
  const key = apiKey();
  const tenantId = tenantIds.get(tenantName) ?? randomUUID();
  tenantIds.set(tenantName, tenantId);
  registry.identity.add(key, { principalId: `key-${randomUUID().slice(0, 8)}`, kind: 'api_key', tenantId, tenantName, role });
  return new OciClient(registry.url, { username: tenantName, password: key });
}

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('registry_public'), startNats()]);
  registry = await startRegistryUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control });
  acme = client('acme', 'owner');
  globex = client('globex', 'owner');
  globexViewer = client('globex', 'viewer');
  anonymous = new OciClient(registry.url, 'anonymous');
});

afterAll(async () => {
  await registry?.close();
  await nats?.stop();
  await database?.drop();
});

function errorCode(response: OciResponse): string | undefined {
  return response.json<{ errors: Array<{ code: string }> }>().errors[0]?.code;
}

async function pushImage(owner: OciClient, name: string, tag: string) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomUUID() }));
  const layer = randomBytes(300);
  const configDigest = await owner.pushBlob(name, config);
  const layerDigest = await owner.pushBlob(name, layer);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
  };
  const response = await owner.pushManifest(name, tag, manifest, OCI_MANIFEST);
  expect(response.status).toBe(201);
  return { layer, layerDigest, manifestDigest: response.headers.get('docker-content-digest') as string };
}

async function setPublic(name: string, value: boolean): Promise<void> {
  expect(await registry.control.request('registry.cmd.repository.visibility.v1', { name, public: value })).toEqual({ name, public: value });
}

describe('public repositories', () => {
  it('are pullable by every tenant and anonymously once made public, and private again afterwards', async () => {
    const image = await pushImage(acme, 'acme/base', 'v1');

    // Private: neither another tenant nor an anonymous client gets anything.
    for (const outsider of [globex, anonymous]) {
      const denied = await outsider.request('GET', '/v2/acme/base/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      expect(denied.status).toBe(403);
      expect(errorCode(denied)).toBe('DENIED');
      expect((await outsider.request('GET', `/v2/acme/base/blobs/${image.layerDigest}`)).status).toBe(403);
    }

    await setPublic('acme/base', true);
    for (const reader of [globex, globexViewer, anonymous]) {
      const manifest = await reader.request('GET', '/v2/acme/base/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      expect(manifest.status).toBe(200);
      expect(manifest.headers.get('docker-content-digest')).toBe(image.manifestDigest);
      const blob = await reader.request('GET', `/v2/acme/base/blobs/${image.layerDigest}`);
      expect(blob.status).toBe(200);
      expect(sha256(blob.body)).toBe(image.layerDigest);
      expect(blob.body.equals(image.layer)).toBe(true);
      const tags = await reader.request('GET', '/v2/acme/base/tags/list');
      expect(tags.json()).toEqual({ name: 'acme/base', tags: ['v1'] });
    }

    await setPublic('acme/base', false);
    for (const outsider of [globex, anonymous]) {
      expect((await outsider.request('GET', '/v2/acme/base/manifests/v1', { headers: { Accept: OCI_MANIFEST } })).status).toBe(403);
    }
  });

  it('stay writable by their owner only: no push, tag or delete by another tenant or anonymously', async () => {
    const image = await pushImage(acme, 'acme/readonly', 'v1');
    await setPublic('acme/readonly', true);
    for (const outsider of [globex, anonymous]) {
      const upload = await outsider.request('POST', '/v2/acme/readonly/blobs/uploads/');
      expect(upload.status).toBe(403);
      expect(errorCode(upload)).toBe('DENIED');
      const manifest = await outsider.request('GET', '/v2/acme/readonly/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      expect((await outsider.pushManifest('acme/readonly', 'hijacked', manifest.body, OCI_MANIFEST)).status).toBe(403);
      expect((await outsider.request('DELETE', `/v2/acme/readonly/manifests/${image.manifestDigest}`)).status).toBe(403);
      expect((await outsider.request('DELETE', `/v2/acme/readonly/blobs/${image.layerDigest}`)).status).toBe(403);
    }
    expect((await acme.request('GET', '/v2/acme/readonly/tags/list')).json()).toEqual({ name: 'acme/readonly', tags: ['v1'] });
    // The owner still pushes.
    await pushImage(acme, 'acme/readonly', 'v2');
  });

  it('issues anonymous tokens with pull on public repositories only, whatever was asked', async () => {
    await pushImage(acme, 'acme/open', 'v1');
    await setPublic('acme/open', true);
    const response = await new OciClient(registry.url, null).tokenResponse(`${registry.url}/token`, 'gureum-registry', [
      'repository:acme/open:pull,push,delete',
      'repository:acme/closed:pull',
      'repository:acme/open:*',
    ]);
    expect(response.status).toBe(200);
    const claims = JSON.parse(Buffer.from(response.json<{ token: string }>().token.split('.')[1] as string, 'base64url').toString('utf8'));
    expect(claims.access).toEqual([{ type: 'repository', name: 'acme/open', actions: ['pull'] }]);
    expect(claims.sub).toBe('anonymous');
    expect(claims.tenantId).toBeNull();
    // A malformed Authorization header is not anonymous: it is refused.
    const malformed = await fetch(`${registry.url}/token?service=gureum-registry&scope=repository:acme/open:pull`, { headers: { Authorization: 'Basic !!!' } });
    expect(malformed.status).toBe(401);
  });
});

describe('cross-repository mount across tenants', () => {
  it('mounts from a public repository of another tenant, and falls back to an upload once it is private again', async () => {
    const image = await pushImage(acme, 'acme/lib', 'v1');
    await setPublic('acme/lib', true);
    const mounted = await globex.request('POST', `/v2/globex/mounted/blobs/uploads/?mount=${image.layerDigest}&from=acme/lib`);
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get('docker-content-digest')).toBe(image.layerDigest);
    const served = await globex.request('GET', `/v2/globex/mounted/blobs/${image.layerDigest}`);
    expect(served.body.equals(image.layer)).toBe(true);

    await setPublic('acme/lib', false);
    const refused = await globex.request('POST', `/v2/globex/other/blobs/uploads/?mount=${image.layerDigest}&from=acme/lib`);
    expect(refused.status).toBe(202);
    expect((await globex.request('HEAD', `/v2/globex/other/blobs/${image.layerDigest}`)).status).toBe(404);
    // The session is an ordinary one: completing it by naming the digest, without the bytes, fails.
    const location = absolutePath(refused.headers.get('location') as string);
    const guess = await globex.request('PUT', withQuery(location, `digest=${image.layerDigest}`));
    expect(guess.status).toBe(400);
    expect(errorCode(guess)).toBe('DIGEST_INVALID');
    expect((await globex.request('HEAD', `/v2/globex/other/blobs/${image.layerDigest}`)).status).toBe(404);
  });

  it('never mounts a digest the named source does not hold, even when another repository has it', async () => {
    const image = await pushImage(acme, 'acme/secret', 'v1');
    await pushImage(globex, 'globex/own', 'v1');
    // globex may pull its own repository, but the digest lives only in acme/secret.
    const response = await globex.request('POST', `/v2/globex/steal/blobs/uploads/?mount=${image.layerDigest}&from=globex/own`);
    expect(response.status).toBe(202);
    expect((await globex.request('HEAD', `/v2/globex/steal/blobs/${image.layerDigest}`)).status).toBe(404);
  });

  it('does not let a viewer mount (mount is a push) or an anonymous client mount anything', async () => {
    const image = await pushImage(acme, 'acme/pubmount', 'v1');
    await setPublic('acme/pubmount', true);
    expect((await globexViewer.request('POST', `/v2/globex/viewer/blobs/uploads/?mount=${image.layerDigest}&from=acme/pubmount`)).status).toBe(403);
    expect((await anonymous.request('POST', `/v2/acme/pubmount/blobs/uploads/?mount=${image.layerDigest}&from=acme/pubmount`)).status).toBe(403);
  });
});
