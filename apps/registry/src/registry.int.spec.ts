import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { EVENTS_STREAM, type Principal } from '@gureum/contracts';
import { Client as PgClient } from 'pg';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@gureum/testing';
import { absolutePath, OciClient, parseChallenge, sha256, withQuery, type OciResponse } from './testing/oci-client';
import { startRegistryUnderTest, type RegistryUnderTest } from './testing/registry-under-test';

/**
 * The OCI Distribution Specification v1.1 and Docker token authentication, checked over
 * HTTP against the registry in-process with real PostgreSQL and nats-server. Expectations
 * are the spec's (status codes, headers, error codes), not read off the implementation.
 * Identities come from a stand-in for the api's `identity.cmd.credentials.verify.v1`.
 */

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

let database: TestDatabase;
let nats: TestNats;
let registry: RegistryUnderTest;

function apiKey(): string {
  return `grm_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
}

interface Tenant {
  name: string;
  owner: OciClient;
  viewer: OciClient;
  ownerKey: string;
}

/** One tenant id per tenant name (a namespace belongs to one tenant id). */
const tenantIds = new Map<string, string>();
function tenantIdOf(name: string): string {
  const known = tenantIds.get(name) ?? randomUUID();
  tenantIds.set(name, known);
  return known;
}

function principal(tenantName: string | null, role: Principal['role']): Principal {
  return { principalId: `key-${randomUUID().slice(0, 8)}`, kind: 'api_key', tenantId: tenantName ? tenantIdOf(tenantName) : null, tenantName, role };
}

function addTenant(name: string): Tenant {
  const ownerKey = apiKey();
  const viewerKey = apiKey();
  registry.identity.add(ownerKey, principal(name, 'owner'));
  registry.identity.add(viewerKey, principal(name, 'viewer'));
  return {
    name,
    ownerKey,
    owner: new OciClient(registry.url, { username: name, password: ownerKey }),
    viewer: new OciClient(registry.url, { username: name, password: viewerKey }),
  };
}

let acme: Tenant;
let globex: Tenant;
let operator: OciClient;

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('registry_protocol'), startNats()]);
  registry = await startRegistryUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control });
  acme = addTenant('acme');
  globex = addTenant('globex');
  const operatorKey = apiKey();
  registry.identity.add(operatorKey, principal(null, 'operator'));
  operator = new OciClient(registry.url, { username: 'ops', password: operatorKey });
  registry.identity.add('alice:correct horse', { ...principal('acme', 'member'), kind: 'user' });
});

afterAll(async () => {
  await registry?.close();
  await nats?.stop();
  await database?.drop();
});

function errorCode(response: OciResponse): string | undefined {
  return response.json<{ errors: Array<{ code: string; message: string }> }>().errors[0]?.code;
}

function imageManifest(config: { digest: string; size: number }, layers: Array<{ digest: string; size: number }>, extra: object = {}): object {
  return {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, ...config },
    layers: layers.map((layer) => ({ mediaType: OCI_LAYER, ...layer })),
    ...extra,
  };
}

/** Pushes a config and one layer and an OCI manifest by tag; returns the digests. */
async function pushImage(client: OciClient, name: string, tag: string, layerBytes = randomBytes(64)) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomUUID() }));
  const configDigest = await client.pushBlob(name, config);
  const layerDigest = await client.pushBlob(name, layerBytes);
  const manifest = imageManifest({ digest: configDigest, size: config.length }, [{ digest: layerDigest, size: layerBytes.length }]);
  const response = await client.pushManifest(name, tag, manifest, OCI_MANIFEST);
  expect(response.status).toBe(201);
  return { configDigest, layerDigest, manifestDigest: response.headers.get('docker-content-digest') as string, manifest, configSize: config.length };
}

describe('authentication (Docker token spec)', () => {
  it('challenges an anonymous /v2/ with a Bearer realm and service, and accepts a token from that realm', async () => {
    const anonymous = new OciClient(registry.url, null);
    const response = await anonymous.request('GET', '/v2/');
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHORIZED');
    const challenge = parseChallenge(response.headers.get('www-authenticate'));
    expect(challenge).toEqual(expect.objectContaining({ realm: `${registry.url}/token`, service: 'gureum-registry' }));

    const loggedIn = await acme.owner.request('GET', '/v2/');
    expect(loggedIn.status).toBe(200);
    expect(loggedIn.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('names the repository and actions in the challenge of a repository request', async () => {
    const response = await new OciClient(registry.url, null).request('POST', '/v2/acme/app/blobs/uploads/');
    expect(response.status).toBe(401);
    expect(parseChallenge(response.headers.get('www-authenticate'))?.['scope']).toBe('repository:acme/app:pull,push');
  });

  it('refuses a token to wrong credentials, grants an anonymous one nothing private, and accepts docker login (no scope) with an API key or a password', async () => {
    const realm = `${registry.url}/token`;
    // No credentials at all is an anonymous request: a token, but one that grants nothing private.
    const anonymous = await new OciClient(registry.url, null).tokenResponse(realm, 'gureum-registry', ['repository:acme/app:pull']);
    expect(anonymous.status).toBe(200);
    expect(claims(anonymous.json<{ token: string }>().token).access).toEqual([]);
    expect((await new OciClient(registry.url, { username: 'acme', password: apiKey() }).tokenResponse(realm, 'gureum-registry', [])).status).toBe(401);
    expect((await new OciClient(registry.url, { username: 'alice', password: 'wrong' }).tokenResponse(realm, 'gureum-registry', [])).status).toBe(401);

    const login = await acme.owner.tokenResponse(realm, 'gureum-registry', []);
    expect(login.status).toBe(200);
    const body = login.json<{ token: string; access_token: string; expires_in: number; issued_at: string }>();
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBeGreaterThan(0);
    expect(claims(body.token).access).toEqual([]);

    const password = await new OciClient(registry.url, { username: 'alice', password: 'correct horse' }).tokenResponse(realm, 'gureum-registry', [
      'repository:acme/app:pull,push',
    ]);
    expect(password.status).toBe(200);
    expect(claims(password.json<{ token: string }>().token).access).toEqual([{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }]);
    expect(registry.identity.requests).toContainEqual(expect.objectContaining({ credential: { kind: 'password', login: 'alice', password: 'correct horse' }, via: 'registry' }));
  });

  it('grants only what the principal may: own namespace, viewers pull only, nothing in another tenant, operators all', async () => {
    const realm = `${registry.url}/token`;
    const scopes = ['repository:acme/app:pull,push,delete', 'repository:globex/app:pull,push'];
    const owner = claims((await acme.owner.token(realm, 'gureum-registry', scopes)) as string);
    expect(owner.access).toEqual([{ type: 'repository', name: 'acme/app', actions: ['delete', 'pull', 'push'] }]);
    const viewer = claims((await acme.viewer.token(realm, 'gureum-registry', scopes)) as string);
    expect(viewer.access).toEqual([{ type: 'repository', name: 'acme/app', actions: ['pull'] }]);
    const ops = claims((await operator.token(realm, 'gureum-registry', scopes)) as string);
    expect(ops.access).toEqual([
      { type: 'repository', name: 'acme/app', actions: ['delete', 'pull', 'push'] },
      { type: 'repository', name: 'globex/app', actions: ['pull', 'push'] },
    ]);
  });

  it('rejects a forged or tampered token', async () => {
    const token = (await acme.owner.token(`${registry.url}/token`, 'gureum-registry', ['repository:acme/app:pull'])) as string;
    const [header, payload] = token.split('.') as [string, string, string];
    const widened = Buffer.from(JSON.stringify({ ...claims(token), access: [{ type: 'repository', name: 'globex/app', actions: ['pull'] }] })).toString('base64url');
    const forged = await acme.owner.raw('GET', '/v2/globex/app/tags/list', {}, `${header}.${widened}.${token.split('.')[2]}`);
    expect(forged.status).toBe(401);
    expect(parseChallenge(forged.headers.get('www-authenticate'))?.['error']).toBe('invalid_token');
    void payload;
  });
});

describe('pushing blobs', () => {
  it('POST then PUT with the digest (monolithic) stores a blob that GET and HEAD serve', async () => {
    const bytes = randomBytes(3000);
    const started = await acme.owner.request('POST', '/v2/acme/blobs/blobs/uploads/');
    expect(started.status).toBe(202);
    const location = started.headers.get('location') as string;
    expect(location).toMatch(/\/v2\/acme\/blobs\/blobs\/uploads\//);
    expect(started.headers.get('docker-upload-uuid')).toBeTruthy();
    const done = await acme.owner.request('PUT', withQuery(absolutePath(location), `digest=${sha256(bytes)}`), {
      body: bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(done.status).toBe(201);
    expect(done.headers.get('docker-content-digest')).toBe(sha256(bytes));
    expect(done.headers.get('location')).toBe(`/v2/acme/blobs/blobs/${sha256(bytes)}`);

    const head = await acme.owner.request('HEAD', `/v2/acme/blobs/blobs/${sha256(bytes)}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('3000');
    expect(head.headers.get('docker-content-digest')).toBe(sha256(bytes));
    expect(head.body.length).toBe(0);
    const get = await acme.owner.request('GET', `/v2/acme/blobs/blobs/${sha256(bytes)}`);
    expect(get.status).toBe(200);
    expect(get.body.equals(bytes)).toBe(true);
  });

  it('accepts a whole blob in a single POST with ?digest=', async () => {
    const bytes = randomBytes(500);
    const response = await acme.owner.request('POST', `/v2/acme/blobs/blobs/uploads/?digest=${sha256(bytes)}`, {
      body: bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`/v2/acme/blobs/blobs/${sha256(bytes)}`);
    expect((await acme.owner.request('GET', `/v2/acme/blobs/blobs/${sha256(bytes)}`)).body.equals(bytes)).toBe(true);
  });

  it('takes chunks in order with Content-Range, reports the upload status, and answers 416 to a gap', async () => {
    const bytes = randomBytes(30);
    const started = await acme.owner.request('POST', '/v2/acme/chunked/blobs/uploads/');
    let location = absolutePath(started.headers.get('location') as string);
    const first = await acme.owner.request('PATCH', location, {
      body: bytes.subarray(0, 10),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-9' },
    });
    expect(first.status).toBe(202);
    expect(first.headers.get('range')).toBe('0-9');
    location = absolutePath(first.headers.get('location') as string);

    const status = await acme.owner.request('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-9');

    const gap = await acme.owner.request('PATCH', location, {
      body: bytes.subarray(20, 30),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '20-29' },
    });
    expect(gap.status).toBe(416);
    const again = await acme.owner.request('PATCH', location, {
      body: bytes.subarray(0, 10),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-9' },
    });
    expect(again.status).toBe(416);

    const second = await acme.owner.request('PATCH', location, {
      body: bytes.subarray(10, 20),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '10-19' },
    });
    expect(second.status).toBe(202);
    expect(second.headers.get('range')).toBe('0-19');
    const done = await acme.owner.request('PUT', withQuery(absolutePath(second.headers.get('location') as string), `digest=${sha256(bytes)}`), {
      body: bytes.subarray(20),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '20-29' },
    });
    expect(done.status).toBe(201);
    expect((await acme.owner.request('GET', `/v2/acme/chunked/blobs/${sha256(bytes)}`)).body.equals(bytes)).toBe(true);
  });

  it('appends streamed chunks without Content-Range, as Docker sends them', async () => {
    const bytes = randomBytes(5000);
    const started = await acme.owner.request('POST', '/v2/acme/streamed/blobs/uploads/');
    const first = await acme.owner.request('PATCH', absolutePath(started.headers.get('location') as string), {
      body: bytes.subarray(0, 3000),
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(first.status).toBe(202);
    expect(first.headers.get('range')).toBe('0-2999');
    const second = await acme.owner.request('PATCH', absolutePath(first.headers.get('location') as string), { body: bytes.subarray(3000) });
    expect(second.headers.get('range')).toBe('0-4999');
    const done = await acme.owner.request('PUT', withQuery(absolutePath(second.headers.get('location') as string), `digest=${sha256(bytes)}`));
    expect(done.status).toBe(201);
    expect((await acme.owner.request('GET', `/v2/acme/streamed/blobs/${sha256(bytes)}`)).body.equals(bytes)).toBe(true);
  });

  it('expires an idle upload session and GC drops its bytes', async () => {
    const started = await acme.owner.request('POST', '/v2/acme/idle/blobs/uploads/');
    const location = absolutePath(started.headers.get('location') as string);
    const uploadId = location.split('/').at(-1) as string;
    await acme.owner.request('PATCH', location, { body: randomBytes(100) });
    await registry.db.query(`UPDATE registry.uploads SET updated_at = now() - interval '2 hours' WHERE id = $1`, [uploadId]);
    const status = await acme.owner.request('GET', location);
    expect(status.status).toBe(404);
    expect(errorCode(status)).toBe('BLOB_UPLOAD_UNKNOWN');
    const report = await registry.control.request('registry.cmd.gc.run.v1', {});
    expect(report.uploadsExpired).toBeGreaterThanOrEqual(1);
    expect(await readdir(join(registry.storageDir, 'uploads'))).not.toContain(uploadId);
  });

  it('keeps nothing of a truncated chunk', async () => {
    const started = await acme.owner.request('POST', '/v2/acme/truncated/blobs/uploads/');
    const location = absolutePath(started.headers.get('location') as string);
    const token = (await acme.owner.token(`${registry.url}/token`, 'gureum-registry', ['repository:acme/truncated:pull,push'])) as string;
    await new Promise<void>((resolve) => {
      const url = new URL(`${registry.url}${location}`);
      const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'PATCH', headers: { Authorization: `Bearer ${token}`, 'Content-Length': '100' } });
      req.on('error', () => resolve());
      req.on('response', () => resolve());
      req.write(randomBytes(50), () => setTimeout(() => req.destroy(), 100));
    });
    const status = await acme.owner.request('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-0');
    const whole = randomBytes(20);
    const done = await acme.owner.request('PUT', withQuery(location, `digest=${sha256(whole)}`), { body: whole, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(done.status).toBe(201);
  });

  it('rejects a digest mismatch with DIGEST_INVALID and keeps neither the blob nor the session', async () => {
    const bytes = randomBytes(100);
    const claimed = sha256(randomBytes(100));
    const started = await acme.owner.request('POST', '/v2/acme/blobs/blobs/uploads/');
    const location = absolutePath(started.headers.get('location') as string);
    const done = await acme.owner.request('PUT', withQuery(location, `digest=${claimed}`), { body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(done.status).toBe(400);
    expect(errorCode(done)).toBe('DIGEST_INVALID');
    expect(errorCode(await acme.owner.request('HEAD', `/v2/acme/blobs/blobs/${claimed}`).then(async () => acme.owner.request('GET', `/v2/acme/blobs/blobs/${claimed}`)))).toBe('BLOB_UNKNOWN');
    expect((await acme.owner.request('GET', `/v2/acme/blobs/blobs/${sha256(bytes)}`)).status).toBe(404);
    const status = await acme.owner.request('GET', location);
    expect(status.status).toBe(404);
    expect(errorCode(status)).toBe('BLOB_UPLOAD_UNKNOWN');
    expect(await readdir(join(registry.storageDir, 'uploads'))).not.toContain(location.split('/').at(-1));
  });

  it('rejects a malformed digest with DIGEST_INVALID', async () => {
    const response = await acme.owner.request('POST', '/v2/acme/blobs/blobs/uploads/?digest=sha256:xyz', { body: Buffer.from('x') });
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('DIGEST_INVALID');
  });

  it('cancels an upload with DELETE, after which it is unknown', async () => {
    const started = await acme.owner.request('POST', '/v2/acme/blobs/blobs/uploads/');
    const location = absolutePath(started.headers.get('location') as string);
    expect((await acme.owner.request('DELETE', location)).status).toBe(204);
    const status = await acme.owner.request('GET', location);
    expect(status.status).toBe(404);
    expect(errorCode(status)).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  it('does not let a viewer push', async () => {
    const response = await acme.viewer.request('POST', '/v2/acme/blobs/blobs/uploads/');
    expect(response.status).toBe(403);
    expect(errorCode(response)).toBe('DENIED');
  });
});

describe('pulling blobs', () => {
  let bytes: Buffer;
  let digest: string;
  beforeAll(async () => {
    bytes = randomBytes(1000);
    digest = await acme.owner.pushBlob('acme/ranges', bytes);
  });

  it('serves a byte range with 206 and Content-Range, and 416 for a range past the end', async () => {
    const partial = await acme.owner.request('GET', `/v2/acme/ranges/blobs/${digest}`, { headers: { Range: 'bytes=100-199' } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get('content-range')).toBe('bytes 100-199/1000');
    expect(partial.body.equals(bytes.subarray(100, 200))).toBe(true);
    const tail = await acme.owner.request('GET', `/v2/acme/ranges/blobs/${digest}`, { headers: { Range: 'bytes=900-' } });
    expect(tail.body.equals(bytes.subarray(900))).toBe(true);
    const past = await acme.owner.request('GET', `/v2/acme/ranges/blobs/${digest}`, { headers: { Range: 'bytes=5000-6000' } });
    expect(past.status).toBe(416);
  });

  it('answers BLOB_UNKNOWN for a digest the repository does not have, even when another repository does', async () => {
    const unknown = await acme.owner.request('GET', `/v2/acme/ranges/blobs/${sha256(randomBytes(8))}`);
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown)).toBe('BLOB_UNKNOWN');
    const elsewhere = await acme.owner.request('GET', `/v2/acme/other/blobs/${digest}`);
    expect(elsewhere.status).toBe(404);
  });

  it('never serves another tenant its blobs', async () => {
    const response = await globex.owner.request('GET', `/v2/acme/ranges/blobs/${digest}`);
    expect(response.status).toBe(403);
    expect(errorCode(response)).toBe('DENIED');
  });

  it('unlinks a blob on DELETE', async () => {
    const own = await acme.owner.pushBlob('acme/deleteme', randomBytes(10));
    expect((await acme.owner.request('DELETE', `/v2/acme/deleteme/blobs/${own}`)).status).toBe(202);
    expect((await acme.owner.request('GET', `/v2/acme/deleteme/blobs/${own}`)).status).toBe(404);
    expect((await acme.owner.request('DELETE', `/v2/acme/deleteme/blobs/${own}`)).status).toBe(404);
  });

  it('keeps a blob a manifest of the repository still uses', async () => {
    const image = await pushImage(acme.owner, 'acme/inuse', 'v1');
    const refused = await acme.owner.request('DELETE', `/v2/acme/inuse/blobs/${image.layerDigest}`);
    expect(refused.status).toBe(403);
    expect(errorCode(refused)).toBe('DENIED');
    expect((await acme.owner.request('HEAD', `/v2/acme/inuse/blobs/${image.layerDigest}`)).status).toBe(200);
  });
});

describe('cross-repository mount', () => {
  it('mounts a blob from another repository of the same tenant without an upload', async () => {
    const digest = await acme.owner.pushBlob('acme/source', randomBytes(200));
    const response = await acme.owner.request('POST', `/v2/acme/target/blobs/uploads/?mount=${digest}&from=acme/source`);
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe(`/v2/acme/target/blobs/${digest}`);
    expect((await acme.owner.request('HEAD', `/v2/acme/target/blobs/${digest}`)).status).toBe(200);
  });

  it("falls back to an upload session for another tenant's blob, never linking it", async () => {
    const secret = randomBytes(200);
    const digest = await acme.owner.pushBlob('acme/private', secret);
    // Ask the token endpoint for the source too, as Docker does before mounting.
    const token = (await globex.owner.token(`${registry.url}/token`, 'gureum-registry', [
      'repository:globex/stolen:pull,push',
      'repository:acme/private:pull',
    ])) as string;
    expect(claims(token).access).toEqual([{ type: 'repository', name: 'globex/stolen', actions: ['pull', 'push'] }]);
    const response = await globex.owner.raw('POST', `/v2/globex/stolen/blobs/uploads/?mount=${digest}&from=acme/private`, {}, token);
    expect(response.status).toBe(202);
    expect(response.headers.get('location')).toMatch(/\/v2\/globex\/stolen\/blobs\/uploads\//);
    expect((await globex.owner.raw('HEAD', `/v2/globex/stolen/blobs/${digest}`, {}, token)).status).toBe(404);
    // Knowing the digest and uploading nothing does not complete it either.
    const location = absolutePath(response.headers.get('location') as string);
    const guess = await globex.owner.raw('PUT', withQuery(location, `digest=${digest}`), {}, token);
    expect(guess.status).toBe(400);
    expect(errorCode(guess)).toBe('DIGEST_INVALID');
  });

  it('mounts from a public repository of another tenant, which stays read-only to it', async () => {
    const digest = await acme.owner.pushBlob('acme/shared', randomBytes(64));
    await registry.control.request('registry.cmd.repository.visibility.v1', { name: 'acme/shared', public: true });
    const response = await globex.owner.request('POST', `/v2/globex/copy/blobs/uploads/?mount=${digest}&from=acme/shared`);
    expect(response.status).toBe(201);
    expect((await globex.owner.request('HEAD', `/v2/globex/copy/blobs/${digest}`)).status).toBe(200);
    expect((await globex.owner.request('GET', `/v2/acme/shared/blobs/${digest}`)).status).toBe(200);
    expect((await globex.owner.request('POST', '/v2/acme/shared/blobs/uploads/')).status).toBe(403);
  });
});

describe('manifests', () => {
  it('stores an OCI image manifest by tag and serves it by tag and digest with its media type and digest', async () => {
    const image = await pushImage(acme.owner, 'acme/web', 'v1');
    const body = Buffer.from(JSON.stringify(image.manifest));
    expect(image.manifestDigest).toBe(sha256(body));
    const byTag = await acme.owner.request('GET', '/v2/acme/web/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    expect(byTag.status).toBe(200);
    expect(byTag.headers.get('content-type')).toBe(OCI_MANIFEST);
    expect(byTag.headers.get('docker-content-digest')).toBe(sha256(body));
    expect(byTag.body.equals(body)).toBe(true);
    const head = await acme.owner.request('HEAD', `/v2/acme/web/manifests/${sha256(body)}`);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(body.length));
  });

  it('stores by digest, and rejects a digest that does not match the body', async () => {
    const image = await pushImage(acme.owner, 'acme/bydigest', 'tmp');
    const body = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { by: 'digest' } }));
    const ok = await acme.owner.pushManifest('acme/bydigest', sha256(body), body, OCI_MANIFEST);
    expect(ok.status).toBe(201);
    expect(ok.headers.get('location')).toBe(`/v2/acme/bydigest/manifests/${sha256(body)}`);
    const wrong = await acme.owner.pushManifest('acme/bydigest', sha256('something else'), body, OCI_MANIFEST);
    expect(wrong.status).toBe(400);
    expect(errorCode(wrong)).toBe('DIGEST_INVALID');
  });

  it('accepts Docker schema 2 manifests and manifest lists, and OCI indexes', async () => {
    const image = await pushImage(acme.owner, 'acme/multi', 'oci');
    const dockerManifest = {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: image.configDigest, size: image.configSize },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: image.layerDigest, size: 64 }],
    };
    const docker = await acme.owner.pushManifest('acme/multi', 'docker', dockerManifest, DOCKER_MANIFEST);
    expect(docker.status).toBe(201);
    const dockerDigest = docker.headers.get('docker-content-digest') as string;
    const dockerSize = Buffer.byteLength(JSON.stringify(dockerManifest));
    const list = await acme.owner.pushManifest(
      'acme/multi',
      'list',
      { schemaVersion: 2, mediaType: DOCKER_LIST, manifests: [{ mediaType: DOCKER_MANIFEST, digest: dockerDigest, size: dockerSize, platform: { architecture: 'amd64', os: 'linux' } }] },
      DOCKER_LIST,
    );
    expect(list.status).toBe(201);
    const index = await acme.owner.pushManifest(
      'acme/multi',
      'index',
      { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: image.manifestDigest, size: Buffer.byteLength(JSON.stringify(image.manifest)) }] },
      OCI_INDEX,
    );
    expect(index.status).toBe(201);
    expect((await acme.owner.request('GET', '/v2/acme/multi/manifests/list')).headers.get('content-type')).toBe(DOCKER_LIST);
  });

  it('rejects manifests that reference unknown blobs or manifests with MANIFEST_BLOB_UNKNOWN', async () => {
    const config = Buffer.from('{}');
    const configDigest = await acme.owner.pushBlob('acme/broken', config);
    const refused = imageManifest({ digest: configDigest, size: 2 }, [{ digest: sha256(randomBytes(4)), size: 4 }]);
    const missingLayer = await acme.owner.pushManifest('acme/broken', 'v1', refused, OCI_MANIFEST);
    expect(missingLayer.status).toBe(400);
    expect(errorCode(missingLayer)).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(await storedBlobs()).not.toContain(sha256(JSON.stringify(refused)));
    expect(await storedBlobs()).toContain(configDigest);
    const missingChild = await acme.owner.pushManifest(
      'acme/broken',
      'index',
      { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('nope'), size: 4 }] },
      OCI_INDEX,
    );
    expect(errorCode(missingChild)).toBe('MANIFEST_BLOB_UNKNOWN');
    expect((await acme.owner.request('GET', '/v2/acme/broken/manifests/v1')).status).toBe(404);
  });

  it('rejects a malformed manifest with MANIFEST_INVALID', async () => {
    const notJson = await acme.owner.pushManifest('acme/broken', 'bad', Buffer.from('{not json'), OCI_MANIFEST);
    expect(notJson.status).toBe(400);
    expect(errorCode(notJson)).toBe('MANIFEST_INVALID');
    const noLayers = await acme.owner.pushManifest('acme/broken', 'bad', { schemaVersion: 2, mediaType: OCI_MANIFEST }, OCI_MANIFEST);
    expect(errorCode(noLayers)).toBe('MANIFEST_INVALID');
    const mismatched = await acme.owner.pushManifest('acme/broken', 'bad', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }, OCI_MANIFEST);
    expect(errorCode(mismatched)).toBe('MANIFEST_INVALID');
  });

  it('rejects a manifest over 4 MiB with 413', async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const response = await acme.owner.pushManifest('acme/broken', 'huge', huge, OCI_MANIFEST);
    expect(response.status).toBe(413);
  });

  it('answers MANIFEST_UNKNOWN for an unknown tag or digest and NAME_UNKNOWN for an unknown repository', async () => {
    await pushImage(acme.owner, 'acme/known', 'v1');
    const tag = await acme.owner.request('GET', '/v2/acme/known/manifests/nope');
    expect(tag.status).toBe(404);
    expect(errorCode(tag)).toBe('MANIFEST_UNKNOWN');
    const digest = await acme.owner.request('GET', `/v2/acme/known/manifests/${sha256('x')}`);
    expect(errorCode(digest)).toBe('MANIFEST_UNKNOWN');
    const repository = await acme.owner.request('GET', '/v2/acme/never-pushed/tags/list');
    expect(repository.status).toBe(404);
    expect(errorCode(repository)).toBe('NAME_UNKNOWN');
  });

  it('deletes a manifest by digest (and its tags) and a tag by name', async () => {
    const image = await pushImage(acme.owner, 'acme/deleting', 'v1');
    await acme.owner.pushManifest('acme/deleting', 'v2', image.manifest, OCI_MANIFEST);
    expect((await acme.owner.request('DELETE', '/v2/acme/deleting/manifests/v2')).status).toBe(202);
    expect((await acme.owner.request('GET', '/v2/acme/deleting/manifests/v1')).status).toBe(200);
    expect((await acme.viewer.request('DELETE', `/v2/acme/deleting/manifests/${image.manifestDigest}`)).status).toBe(403);
    expect((await acme.owner.request('DELETE', `/v2/acme/deleting/manifests/${image.manifestDigest}`)).status).toBe(202);
    expect(errorCode(await acme.owner.request('GET', `/v2/acme/deleting/manifests/${image.manifestDigest}`))).toBe('MANIFEST_UNKNOWN');
    expect(errorCode(await acme.owner.request('GET', '/v2/acme/deleting/manifests/v1'))).toBe('MANIFEST_UNKNOWN');
    expect((await acme.owner.request('DELETE', `/v2/acme/deleting/manifests/${image.manifestDigest}`)).status).toBe(404);
  });
});

describe('content discovery', () => {
  it('lists tags in lexical order, paged with n and last and a Link to the next page', async () => {
    const image = await pushImage(acme.owner, 'acme/tagged', 'c');
    for (const tag of ['a', 'e', 'b', 'd']) expect((await acme.owner.pushManifest('acme/tagged', tag, image.manifest, OCI_MANIFEST)).status).toBe(201);
    const all = await acme.owner.request('GET', '/v2/acme/tagged/tags/list');
    expect(all.json()).toEqual({ name: 'acme/tagged', tags: ['a', 'b', 'c', 'd', 'e'] });
    const first = await acme.owner.request('GET', '/v2/acme/tagged/tags/list?n=2');
    expect(first.json<{ tags: string[] }>().tags).toEqual(['a', 'b']);
    expect(first.headers.get('link')).toBe('</v2/acme/tagged/tags/list?n=2&last=b>; rel="next"');
    const next = await acme.owner.request('GET', '/v2/acme/tagged/tags/list?n=2&last=b');
    expect(next.json<{ tags: string[] }>().tags).toEqual(['c', 'd']);
    const last = await acme.owner.request('GET', '/v2/acme/tagged/tags/list?n=2&last=d');
    expect(last.json<{ tags: string[] }>().tags).toEqual(['e']);
    expect(last.headers.get('link')).toBeNull();
  });

  it('lists referrers of a digest, filtered by artifactType, and answers OCI-Subject on a push with a subject', async () => {
    const image = await pushImage(acme.owner, 'acme/signed', 'v1');
    const emptyConfig = Buffer.from('{}');
    const emptyDigest = await acme.owner.pushBlob('acme/signed', emptyConfig);
    const subject = { mediaType: OCI_MANIFEST, digest: image.manifestDigest, size: Buffer.byteLength(JSON.stringify(image.manifest)) };
    const referrer = (artifactType: string) => ({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 },
      layers: [],
      subject,
      annotations: { kind: artifactType },
    });
    const signature = await acme.owner.pushManifest('acme/signed', sha256(JSON.stringify(referrer('application/vnd.example.signature'))), referrer('application/vnd.example.signature'), OCI_MANIFEST);
    expect(signature.status).toBe(201);
    expect(signature.headers.get('oci-subject')).toBe(image.manifestDigest);
    const sbom = await acme.owner.pushManifest('acme/signed', sha256(JSON.stringify(referrer('application/vnd.example.sbom'))), referrer('application/vnd.example.sbom'), OCI_MANIFEST);
    expect(sbom.status).toBe(201);

    const all = await acme.owner.request('GET', `/v2/acme/signed/referrers/${image.manifestDigest}`);
    expect(all.status).toBe(200);
    expect(all.headers.get('content-type')).toBe(OCI_INDEX);
    const index = all.json<{ schemaVersion: number; mediaType: string; manifests: Array<{ digest: string; artifactType: string; annotations: object }> }>();
    expect(index.schemaVersion).toBe(2);
    expect(index.manifests.map((m) => m.artifactType).sort()).toEqual(['application/vnd.example.sbom', 'application/vnd.example.signature']);
    expect(index.manifests.find((m) => m.artifactType === 'application/vnd.example.sbom')?.annotations).toEqual({ kind: 'application/vnd.example.sbom' });

    const filtered = await acme.owner.request('GET', `/v2/acme/signed/referrers/${image.manifestDigest}?artifactType=application/vnd.example.sbom`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(filtered.json<{ manifests: Array<{ digest: string }> }>().manifests.map((m) => m.digest)).toEqual([sbom.headers.get('docker-content-digest')]);

    const none = await acme.owner.request('GET', `/v2/acme/signed/referrers/${sha256('nothing refers to this')}`);
    expect(none.status).toBe(200);
    expect(none.json<{ manifests: unknown[] }>().manifests).toEqual([]);
    expect((await acme.owner.request('GET', '/v2/acme/signed/referrers/sha256:bad')).status).toBe(400);
  });
});

describe('names', () => {
  it.each([
    ['an upper-case name', '/v2/Acme/app/tags/list'],
    ['a name with ..', '/v2/acme/../globex/tags/list'],
    ['a name with a dot component', '/v2/acme/a..b/tags/list'],
    ['a trailing separator', '/v2/acme/app-/tags/list'],
    ['a name without a tenant namespace', '/v2/app/tags/list'],
  ])('rejects %s with NAME_INVALID', async (_what, path) => {
    const response = await acme.owner.raw('GET', path, {});
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('NAME_INVALID');
  });

  it('accepts nested names', async () => {
    await pushImage(acme.owner, 'acme/team/app_1.x', 'v1');
    expect((await acme.owner.request('GET', '/v2/acme/team/app_1.x/tags/list')).json()).toEqual({ name: 'acme/team/app_1.x', tags: ['v1'] });
  });

  it('refuses a push into another tenant namespace', async () => {
    const response = await globex.owner.request('POST', '/v2/acme/intruder/blobs/uploads/');
    expect(response.status).toBe(403);
    expect(errorCode(response)).toBe('DENIED');
  });
});

describe('storage quota', () => {
  it('refuses a push that would exceed the quota with DENIED and counts nothing of it', async () => {
    const tenant = addTenant('small');
    const set = await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'small', quotaBytes: 1000 });
    expect(set).toEqual({ tenantName: 'small', quotaBytes: 1000, usedBytes: 0 });
    const first = randomBytes(600);
    await tenant.owner.pushBlob('small/app', first);
    // The same blob in a second repository of the tenant is stored once, so it is charged once.
    expect((await tenant.owner.request('POST', `/v2/small/other/blobs/uploads/?digest=${sha256(first)}`, { body: first })).status).toBe(201);

    const second = randomBytes(600);
    const refused = await tenant.owner.request('POST', `/v2/small/app/blobs/uploads/?digest=${sha256(second)}`, { body: second });
    expect(refused.status).toBe(403);
    expect(errorCode(refused)).toBe('DENIED');
    expect(refused.json<{ errors: Array<{ message: string }> }>().errors[0]?.message).toMatch(/quota/);
    expect((await tenant.owner.request('HEAD', `/v2/small/app/blobs/${sha256(second)}`)).status).toBe(404);
    expect(await storedBlobs()).not.toContain(sha256(second));
    // Over the quota (an operator lowered it below the use), not even a blob the tenant already stores gets a new link.
    await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'small', quotaBytes: 100 });
    const overQuota = await tenant.owner.request('POST', `/v2/small/third/blobs/uploads/?digest=${sha256(first)}`, { body: first });
    expect(overQuota.status).toBe(403);
    expect(errorCode(overQuota)).toBe('DENIED');

    const after = await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'small', quotaBytes: 1000 });
    expect(after.usedBytes).toBe(600);
    // An operator raising the quota lets the same push through.
    await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'small', quotaBytes: 2000 });
    expect((await tenant.owner.request('POST', `/v2/small/app/blobs/uploads/?digest=${sha256(second)}`, { body: second })).status).toBe(201);
  });
});

describe('storage quota under concurrency', () => {
  it('lets exactly as many concurrent pushes through as fit', async () => {
    const tenant = addTenant('busy');
    await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'busy', quotaBytes: 1000 });
    const blobs = Array.from({ length: 6 }, () => randomBytes(300));
    const results = await Promise.all(
      blobs.map((bytes, i) => tenant.owner.request('POST', `/v2/busy/repo${i}/blobs/uploads/?digest=${sha256(bytes)}`, { body: bytes })),
    );
    expect(results.filter((result) => result.status === 201)).toHaveLength(3);
    expect(results.filter((result) => result.status === 403).map(errorCode)).toEqual(['DENIED', 'DENIED', 'DENIED']);
    const usage = await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'busy', quotaBytes: 1000 });
    expect(usage.usedBytes).toBe(900);
  });
});

describe('events', () => {
  it('publishes evt.image.pushed.v1 for a manifest push', async () => {
    const image = await pushImage(acme.owner, 'acme/evented', 'v7');
    const js = jetstream(registry.nc);
    const found = await waitForEvent(js, 'evt.image.pushed.v1', (data) => data['digest'] === image.manifestDigest);
    expect(found).toEqual(expect.objectContaining({ tenantName: 'acme', repository: 'acme/evented', tag: 'v7', mediaType: OCI_MANIFEST }));
  });

  it('publishes evt.registry.storage.v1 for the repository soon after a push (the sampling timer is an hour here)', async () => {
    const image = await pushImage(acme.owner, 'acme/sampled', 'v1');
    const js = jetstream(registry.nc);
    const bytes = 64 + image.configSize + Buffer.from(JSON.stringify(image.manifest)).length;
    // An earlier change of the namespace may sample the repository between its blobs and its manifest: wait for the complete one.
    const sample = await waitForEvent(js, 'evt.registry.storage.v1', (data) => data['repository'] === 'acme/sampled' && data['bytes'] === bytes);
    expect(sample).toEqual(expect.objectContaining({ tenantName: 'acme', sampleId: `acme/sampled@${String(sample['at'])}` }));
  });
});

/**
 * Statements this process sends PostgreSQL while `work` runs, without the outbox relay's
 * (it drains on its own timer): small pushes are bound by round trips (docs/registry.md,
 * "Benchmark"), so their number is part of the contract.
 */
async function statementsDuring(work: () => Promise<void>): Promise<string[]> {
  const sent: string[] = [];
  const original = PgClient.prototype.query;
  const counting = function (this: PgClient, ...args: unknown[]): unknown {
    const config = args[0];
    const text = typeof config === 'string' ? config : (config as { text?: string } | undefined)?.text;
    if (text !== undefined) sent.push(text.replace(/\s+/g, ' ').trim());
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  };
  PgClient.prototype.query = counting as typeof original;
  try {
    await work();
  } finally {
    PgClient.prototype.query = original;
  }
  // The relay's transactions open with START TRANSACTION (ours with BEGIN ISOLATION LEVEL …) and
  // may have begun before `work`: its COMMITs are told from ours by counting our BEGINs.
  const own = sent.filter((text) => text !== 'START TRANSACTION' && text !== 'COMMIT' && !/outbox WHERE published_at|outbox SET/.test(text));
  const commits = own.filter((text) => text.startsWith('BEGIN ISOLATION LEVEL')).map(() => 'COMMIT');
  return [...own, ...commits];
}

describe('PostgreSQL round trips of a push', () => {
  it('stores a blob with one statement for its POST and six for its PUT, and a manifest by tag with six', async () => {
    const name = 'acme/roundtrips';
    await pushImage(acme.owner, name, 'first'); // the repository exists, as for every push but its first
    const challenge = parseChallenge((await acme.owner.raw('POST', `/v2/${name}/blobs/uploads/`, {})).headers.get('www-authenticate'));
    const token = (await acme.owner.token(challenge?.['realm'] ?? '', challenge?.['service'] ?? '', [`repository:${name}:pull,push`])) as string;
    const bytes = randomBytes(1000);
    let location = '';
    const post = await statementsDuring(async () => {
      const started = await acme.owner.raw('POST', `/v2/${name}/blobs/uploads/`, {}, token);
      expect(started.status).toBe(202);
      location = absolutePath(started.headers.get('location') as string);
    });
    const put = await statementsDuring(async () => {
      const done = await acme.owner.raw('PUT', withQuery(location, `digest=${sha256(bytes)}`), { body: bytes, headers: { 'Content-Type': 'application/octet-stream' } }, token);
      expect(done.status).toBe(201);
    });
    const config = Buffer.from('{}');
    const configDigest = await acme.owner.pushBlob(name, config);
    const manifest = Buffer.from(JSON.stringify(imageManifest({ digest: configDigest, size: config.length }, [{ digest: sha256(bytes), size: bytes.length }])));
    const tagged = await statementsDuring(async () => {
      const response = await acme.owner.raw('PUT', `/v2/${name}/manifests/v1`, { body: manifest, headers: { 'Content-Type': OCI_MANIFEST } }, token);
      expect(response.status).toBe(201);
    });
    // Before: POST 1, PUT 8 (repository, digest lock and session delete were three), manifest 10
    // (repository, references and digest lock were three; manifest row, tag and event three).
    expect({ post, put: put.length, manifest: tagged.length }).toEqual({ post: [expect.stringMatching(/^INSERT INTO "registry"."uploads"/)], put: 6, manifest: 6 });
    expect((await acme.owner.request('GET', `/v2/${name}/manifests/v1`)).body.equals(manifest)).toBe(true);
    expect((await registry.db.query(`SELECT count(*)::int AS n FROM registry.uploads WHERE id = $1`, [location.split('/').pop()])).rows[0].n).toBe(0);
  });
});

describe('garbage collection (runs last: it sweeps everything unreferenced)', () => {
  it('reclaims the bytes of a deleted image after the grace period, keeping what tagged images use', async () => {
    const tenant = addTenant('gc');
    const shared = randomBytes(4096);
    const keep = await pushImage(tenant.owner, 'gc/app', 'keep', shared);
    const dropLayer = randomBytes(8192);
    const drop = await pushImage(tenant.owner, 'gc/app', 'drop', dropLayer);
    const before = await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'gc', quotaBytes: null });

    // Inside the grace period nothing of an in-flight push is touched.
    const inflight = await tenant.owner.pushBlob('gc/app', randomBytes(100));
    expect((await tenant.owner.request('DELETE', `/v2/gc/app/manifests/${drop.manifestDigest}`)).status).toBe(202);
    const early = await registry.control.request('registry.cmd.gc.run.v1', {});
    expect((await tenant.owner.request('HEAD', `/v2/gc/app/blobs/${inflight}`)).status).toBe(200);
    expect((await tenant.owner.request('HEAD', `/v2/gc/app/blobs/${drop.layerDigest}`)).status).toBe(200);
    expect(early.blobsDeleted).toBe(0);

    const report = await registry.control.request('registry.cmd.gc.run.v1', { gracePeriodSeconds: 0 });
    expect(report.bytesFreed).toBeGreaterThanOrEqual(dropLayer.length);
    expect(report.blobsDeleted).toBeGreaterThanOrEqual(2);
    expect((await tenant.owner.request('HEAD', `/v2/gc/app/blobs/${drop.layerDigest}`)).status).toBe(404);
    expect(await storedBlobs()).not.toContain(drop.layerDigest);
    expect(await storedBlobs()).toContain(keep.layerDigest);

    const kept = await tenant.owner.request('GET', `/v2/gc/app/blobs/${keep.layerDigest}`);
    expect(kept.body.equals(shared)).toBe(true);
    expect((await tenant.owner.request('GET', '/v2/gc/app/manifests/keep')).status).toBe(200);
    const after = await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'gc', quotaBytes: null });
    expect(after.usedBytes).toBeLessThan(before.usedBytes - dropLayer.length + 1);

    const js = jetstream(registry.nc);
    await waitForEvent(js, 'evt.image.deleted.v1', (data) => data['digest'] === drop.manifestDigest);
  });

  it('keeps referrers of a live image, and collects an untagged image with its referrers', async () => {
    const tenant = addTenant('gcref');
    const image = await pushImage(tenant.owner, 'gcref/app', 'v1');
    const empty = await tenant.owner.pushBlob('gcref/app', Buffer.from('{}'));
    const referrer = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [],
      subject: { mediaType: OCI_MANIFEST, digest: image.manifestDigest, size: Buffer.byteLength(JSON.stringify(image.manifest)) },
    };
    const pushed = await tenant.owner.pushManifest('gcref/app', sha256(JSON.stringify(referrer)), referrer, OCI_MANIFEST);
    await registry.control.request('registry.cmd.gc.run.v1', { gracePeriodSeconds: 0 });
    expect((await tenant.owner.request('GET', `/v2/gcref/app/manifests/${pushed.headers.get('docker-content-digest')}`)).status).toBe(200);

    expect((await tenant.owner.request('DELETE', '/v2/gcref/app/manifests/v1')).status).toBe(202);
    await registry.control.request('registry.cmd.gc.run.v1', { gracePeriodSeconds: 0 });
    expect((await tenant.owner.request('GET', `/v2/gcref/app/manifests/${image.manifestDigest}`)).status).toBe(404);
    expect((await tenant.owner.request('GET', `/v2/gcref/app/manifests/${pushed.headers.get('docker-content-digest')}`)).status).toBe(404);
  });
});

/** Every digest whose bytes are in the store, read from its directory layout. */
async function storedBlobs(): Promise<string[]> {
  const root = join(registry.storageDir, 'blobs', 'sha256');
  const found: string[] = [];
  for (const prefix of await readdir(root).catch(() => [] as string[])) {
    for (const hex of await readdir(join(root, prefix))) found.push(`sha256:${hex}`);
  }
  return found;
}

function claims(token: string): { access: Array<{ type: string; name: string; actions: string[] }>; [claim: string]: unknown } {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8'));
}

async function waitForEvent(
  js: ReturnType<typeof jetstream>,
  subject: string,
  match: (data: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const consumer = await js.consumers.get(EVENTS_STREAM);
    for (;;) {
      const message = await consumer.next({ expires: 1000 });
      if (!message) break;
      const data = message.json<Record<string, unknown>>();
      if (message.subject === subject && match(data)) return data;
      if (message.info.pending === 0) break;
    }
  }
  throw new Error(`no ${subject} event matched`);
}
