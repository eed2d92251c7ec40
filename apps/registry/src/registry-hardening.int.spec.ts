import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { Principal } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { TENANT_DELETIONS_DURABLE } from './metering/tenant-deletions';
import { absolutePath, OciClient, sha256, type OciResponse } from './testing/oci-client';
import { startRegistryUnderTest, type RegistryUnderTest } from './testing/registry-under-test';

/**
 * Issue 20's registry holes and protocol edges, against the registry in-process with real
 * PostgreSQL and nats-server (identities from the stand-in for the api): a deleted tenant's
 * namespace, open uploads and the quota, revoked credentials behind issued tokens, and the
 * conformance suite's edges (malformed references, throttled token requests).
 */

let database: TestDatabase;
let nats: TestNats;
let registry: RegistryUnderTest;
const TOKEN_REALM = () => `${registry.url}/token`;

function apiKey(): string {
  return `grm_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
}

function member(tenantName: string, tenantId: string, role: Principal['role'] = 'owner'): { key: string; client: OciClient } {
  const key = apiKey();
  registry.identity.add(key, { principalId: randomUUID(), kind: 'api_key', tenantId, tenantName, role });
  return { key, client: new OciClient(registry.url, { username: tenantName, password: key }) };
}

function errorCode(response: OciResponse): string | undefined {
  return response.json<{ errors: Array<{ code: string }> }>().errors[0]?.code;
}

async function pushImage(client: OciClient, name: string, tag: string, layer = randomBytes(200)) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomUUID() }));
  const configDigest = await client.pushBlob(name, config);
  const layerDigest = await client.pushBlob(name, layer);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layer.length }],
  };
  const response = await client.pushManifest(name, tag, manifest, 'application/vnd.oci.image.manifest.v1+json');
  expect(response.status).toBe(201);
  return { layerDigest, manifestDigest: response.headers.get('docker-content-digest') as string };
}

/** A PATCH whose body is streamed in pieces without Content-Length (chunked transfer encoding). */
function streamedPatch(path: string, token: string, pieces: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, registry.url);
    const request = httpRequest(url, { method: 'PATCH', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/octet-stream' } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', reject);
    for (const piece of pieces) request.write(piece);
    request.end();
  });
}

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('registry_hardening'), startNats()]);
  registry = await startRegistryUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control });
});

afterAll(async () => {
  await registry?.close();
  await nats?.stop();
  await database?.drop();
});

describe('conformance edges (distribution-spec conformance suite v1.1.1)', () => {
  it('answers 404 MANIFEST_UNKNOWN, not 400, for a reference that is neither a tag nor a digest', async () => {
    const acme = member('acme', randomUUID()).client;
    await pushImage(acme, 'acme/app', 'v1');
    for (const reference of ['.INVALID_MANIFEST_NAME', 'sha256:totallywrong', 'md5:0123']) {
      for (const method of ['GET', 'HEAD']) {
        const response = await acme.request(method, `/v2/acme/app/manifests/${reference}`);
        expect({ reference, method, status: response.status }).toEqual({ reference, method, status: 404 });
        if (method === 'GET') expect(errorCode(response)).toBe('MANIFEST_UNKNOWN');
      }
    }
  });

  it('answers a throttled token request 429 TOOMANYREQUESTS with Retry-After, not 401', async () => {
    const { key, client } = member('throttled', randomUUID());
    registry.identity.throttle(key, 7);
    try {
      const response = await client.tokenResponse(TOKEN_REALM(), 'gureum-registry', ['repository:throttled/app:pull']);
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('7');
      expect(errorCode(response)).toBe('TOOMANYREQUESTS');
    } finally {
      registry.identity.throttle(key, 0);
    }
    expect((await client.tokenResponse(TOKEN_REALM(), 'gureum-registry', ['repository:throttled/app:pull'])).status).toBe(200);
  });
});

describe('revocation of already-issued tokens', () => {
  it("stops a revoked API key's token on its next use, and a deleted tenant's", async () => {
    const tenantId = randomUUID();
    const { key, client } = member('revoking', tenantId);
    await pushImage(client, 'revoking/app', 'v1');
    const token = await client.token(TOKEN_REALM(), 'gureum-registry', ['repository:revoking/app:pull,push']);
    expect(token).not.toBeNull();
    expect((await client.raw('GET', '/v2/revoking/app/manifests/v1', {}, token as string)).status).toBe(200);

    registry.identity.revoke(key);
    // The registry trusts its answer about a principal for a few seconds at most.
    const deadline = Date.now() + 20_000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = (await client.raw('GET', '/v2/revoking/app/manifests/v1', {}, token as string)).status;
    }
    expect(status).toBe(401);
    expect((await client.raw('POST', '/v2/revoking/app/blobs/uploads/', {}, token as string)).status).toBe(401);
    // ...and the key gets no new token.
    expect((await client.tokenResponse(TOKEN_REALM(), 'gureum-registry', ['repository:revoking/app:pull'])).status).toBe(401);
  });
});

describe("a deleted tenant's namespace", () => {
  it('is not inherited by a new tenant of the same name: empty, zero usage, and the old tokens are dead', async () => {
    const oldId = randomUUID();
    const old = member('phoenix', oldId);
    const pushed = await pushImage(old.client, 'phoenix/secret', 'v1', randomBytes(5000));
    const oldToken = (await old.client.token(TOKEN_REALM(), 'gureum-registry', ['repository:phoenix/secret:pull,push'])) as string;
    const before = await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'phoenix', quotaBytes: 1_000_000 });
    expect(before.usedBytes).toBeGreaterThan(5000);

    registry.identity.deleteTenant(oldId);
    const newId = randomUUID();
    const reborn = member('phoenix', newId);
    const caller = { principalId: randomUUID(), tenantId: newId, role: 'owner' as const, requestId: randomUUID() };
    // Before it touches the registry: nothing is listed for the new tenant id.
    expect((await registry.control.request('registry.cmd.images.list.v1', { caller })).items).toEqual([]);

    // Its own namespace: none of the old content, by tag, digest or blob.
    const byTag = await reborn.client.request('GET', '/v2/phoenix/secret/manifests/v1');
    expect(byTag.status).toBe(404);
    expect((await reborn.client.request('GET', `/v2/phoenix/secret/manifests/${pushed.manifestDigest}`)).status).toBe(404);
    expect((await reborn.client.request('GET', `/v2/phoenix/secret/blobs/${pushed.layerDigest}`)).status).toBe(404);
    // A mount from the old repository finds nothing to link either.
    const mount = await reborn.client.request('POST', `/v2/phoenix/other/blobs/uploads/?mount=${pushed.layerDigest}&from=phoenix/secret`);
    expect(mount.status).toBe(202);

    const list = await registry.control.request('registry.cmd.images.list.v1', { caller });
    expect(list.items).toEqual([]);
    expect(list.storage.usedBytes).toBe(0);
    // The old tenant's quota override did not carry over either.
    expect(list.storage.quotaBytes).not.toBe(1_000_000);

    // A push is counted from zero.
    const layer = randomBytes(3000);
    await pushImage(reborn.client, 'phoenix/fresh', 'v1', layer);
    const after = await registry.control.request('registry.cmd.images.list.v1', { caller });
    expect(after.items.map((item) => item.name)).toEqual(['phoenix/fresh']);
    expect(after.storage.usedBytes).toBe(after.items[0]?.bytes);

    // The deleted tenant's token (issued before the deletion, for the repository it had) can
    // neither take the namespace back nor push: refused as revoked (401) or, while the registry
    // still trusts its last answer about that principal (seconds), as another tenant's (403).
    for (const [method, path] of [['GET', '/v2/phoenix/secret/manifests/v1'], ['POST', '/v2/phoenix/secret/blobs/uploads/']] as const) {
      expect([401, 403]).toContain((await old.client.raw(method, path, {}, oldToken)).status);
    }
    expect((await reborn.client.request('GET', '/v2/phoenix/fresh/manifests/v1')).status).toBe(200);
  });

  it("refuses a token of another live tenant id that carries the namespace's name", async () => {
    const owner = member('twin', randomUUID()).client;
    await pushImage(owner, 'twin/app', 'v1');
    // Not a deleted tenant: the api still knows the recorded owner, so the namespace stays its.
    const impostor = member('twin', randomUUID()).client;
    const response = await impostor.request('GET', '/v2/twin/app/manifests/v1');
    expect(response.status).toBe(403);
    expect(errorCode(response)).toBe('DENIED');
    expect((await owner.request('GET', '/v2/twin/app/manifests/v1')).status).toBe(200);
  });
});

describe('evt.tenant.deleted.v1 (the api deleted a tenant)', () => {
  const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

  async function publishDeletion(payload: unknown, msgID = randomUUID()): Promise<number> {
    const data = typeof payload === 'string' ? payload : JSON.stringify(payload);
    return (await jetstream(registry.nc).publish('evt.tenant.deleted.v1', data, { msgID })).seq;
  }

  /** The registry's durable consumer has acknowledged (or terminated) everything up to `seq`. */
  async function consumed(seq: number): Promise<void> {
    const jsm = await jetstreamManager(registry.nc);
    await waitFor(async () => {
      const info = await jsm.consumers.info('GUREUM_EVENTS', TENANT_DELETIONS_DURABLE);
      return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0;
    }, { timeoutMs: 15_000, what: `the tenant deletions consumer past seq ${seq}` });
  }

  async function storageRow(namespace: string) {
    return (await registry.db.query(`SELECT tenant_id, used_bytes, quota_bytes FROM registry.tenant_storage WHERE namespace = $1`, [namespace])).rows[0] as
      | { tenant_id: string | null; used_bytes: string; quota_bytes: string | null }
      | undefined;
  }

  it("empties the namespace at once, public repositories included, without a new tenant claiming it; a redelivery changes nothing", async () => {
    const oldId = randomUUID();
    const old = member('ember', oldId);
    const pushed = await pushImage(old.client, 'ember/pub', 'v1', randomBytes(4000));
    await registry.control.request('registry.cmd.repository.visibility.v1', { name: 'ember/pub', public: true });
    await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'ember', quotaBytes: 2_000_000 });
    const anonymous = new OciClient(registry.url, 'anonymous');
    expect((await anonymous.request('GET', '/v2/ember/pub/manifests/v1', { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    expect(Number((await storageRow('ember'))?.used_bytes)).toBeGreaterThan(4000);

    registry.identity.deleteTenant(oldId);
    const event = { tenantId: oldId, name: 'ember', deletedAt: new Date().toISOString() };
    await publishDeletion(event, oldId);
    // No new tenant named ember exists: only the event can empty the namespace.
    const status = await waitFor(async () => {
      const response = await anonymous.request('GET', '/v2/ember/pub/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      return response.status === 200 ? undefined : response.status;
    }, { timeoutMs: 15_000, what: "the deleted tenant's public repository no longer pullable" });
    expect([401, 404]).toContain(status);
    expect((await anonymous.request('GET', `/v2/ember/pub/blobs/${pushed.layerDigest}`)).status).not.toBe(200);
    expect((await registry.db.query(`SELECT count(*)::int AS n FROM registry.repositories WHERE namespace = 'ember'`)).rows[0]?.n).toBe(0);
    expect(await storageRow('ember')).toEqual({ tenant_id: oldId, used_bytes: '0', quota_bytes: null });

    // A new tenant of the name takes the empty namespace over and pushes...
    const newId = randomUUID();
    const reborn = member('ember', newId);
    await pushImage(reborn.client, 'ember/fresh', 'v1', randomBytes(3000));
    const usedBefore = (await storageRow('ember'))?.used_bytes;
    // ...then the old event comes again (a relay re-send after the dedupe window): nothing changes.
    await consumed(await publishDeletion(event));
    expect((await reborn.client.request('GET', '/v2/ember/fresh/manifests/v1', { headers: { Accept: OCI_MANIFEST } })).status).toBe(200);
    expect(await storageRow('ember')).toEqual({ tenant_id: newId, used_bytes: usedBefore, quota_bytes: null });
  });

  it('terminates a malformed message (not redelivered) and goes on with the next one', async () => {
    const terminated: number[] = [];
    const advisories = registry.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.GUREUM_EVENTS.${TENANT_DELETIONS_DURABLE}`, {
      callback: (error, msg) => {
        if (!error) terminated.push((msg.json() as { stream_seq: number }).stream_seq);
      },
    });
    await registry.nc.flush();
    try {
      const notJson = await publishDeletion('{not json');
      const badId = await publishDeletion({ tenantId: 'not-a-uuid', name: 'x', deletedAt: new Date().toISOString() });
      const extra = await publishDeletion({ tenantId: randomUUID(), name: 'x', deletedAt: new Date().toISOString(), drop: 'everything' });
      const id = randomUUID();
      const victim = member('cinder', id);
      await pushImage(victim.client, 'cinder/app', 'v1');
      const good = await publishDeletion({ tenantId: id, name: 'cinder', deletedAt: new Date().toISOString() });
      await consumed(good);
      await waitFor(async () => terminated.length >= 3, { timeoutMs: 10_000, what: 'three terminated advisories' });
      expect(terminated.sort((x, y) => x - y)).toEqual([notJson, badId, extra]);
      expect(Number((await storageRow('cinder'))?.used_bytes)).toBe(0);
    } finally {
      advisories.unsubscribe();
    }
  });
});

describe('open uploads and the storage quota', () => {
  it('counts the bytes of open upload sessions, so many sessions cannot hold more than the quota', async () => {
    const tenant = member('hoarder', randomUUID()).client;
    await registry.control.request('registry.cmd.quota.set.v1', { tenantName: 'hoarder', quotaBytes: 10_000 });
    const chunk = randomBytes(4000);
    const sessions: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const started = await tenant.request('POST', '/v2/hoarder/big/blobs/uploads/');
      expect(started.status).toBe(202);
      const location = absolutePath(started.headers.get('location') as string);
      expect((await tenant.request('PATCH', location, { body: chunk })).status).toBe(202);
      sessions.push(location);
    }
    // 8000 bytes are held by two open sessions; a third chunk of 4000 (declared length) is refused...
    const third = absolutePath((await tenant.request('POST', '/v2/hoarder/big/blobs/uploads/')).headers.get('location') as string);
    const refused = await tenant.request('PATCH', third, { body: chunk });
    expect(refused.status).toBe(403);
    expect(errorCode(refused)).toBe('DENIED');
    // ...and so is a streamed one (no Content-Length, as Docker sends layers: reserved as the bytes come).
    const token = (await tenant.token(TOKEN_REALM(), 'gureum-registry', ['repository:hoarder/big:pull,push'])) as string;
    expect(await streamedPatch(third, token, [chunk.subarray(0, 1000), chunk.subarray(1000)])).toBe(403);
    expect((await tenant.request('GET', third)).status).toBe(204);
    expect(Number((await registry.db.query(`SELECT "offset" FROM registry.uploads WHERE id = $1`, [third.split('/').at(-1)])).rows[0]?.offset)).toBe(0);

    // Cancelling a session gives its bytes back.
    expect((await tenant.request('DELETE', sessions[0] as string)).status).toBe(204);
    expect((await tenant.request('PATCH', third, { body: chunk })).status).toBe(202);
    // Completing one turns its bytes into a counted blob; the quota still holds everything.
    const done = await tenant.request('PUT', `${third}?digest=${sha256(chunk)}`);
    expect(done.status).toBe(201);
    // 4000 stored + 4000 in the open session: a 2500-byte blob does not fit (it would with the session not counted).
    const big = randomBytes(2500);
    const overflow = await tenant.request('POST', `/v2/hoarder/big/blobs/uploads/?digest=${sha256(big)}`, { body: big });
    expect(overflow.status).toBe(403);
    expect(errorCode(overflow)).toBe('DENIED');
    const small = randomBytes(1500);
    expect((await tenant.request('POST', `/v2/hoarder/big/blobs/uploads/?digest=${sha256(small)}`, { body: small })).status).toBe(201);
  });
});
