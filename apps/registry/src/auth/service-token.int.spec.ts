import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ErrorCode, GureumError } from '@gureum/contracts';
import { serveCommand } from '@gureum/messaging';
import { createTestDatabase, startNats, type TestDatabase, type TestNats } from '@gureum/testing';
import { startRegistryUnderTest, type RegistryUnderTest } from '../testing/registry-under-test';

/**
 * The control plane's one-repository tokens (`registry.cmd.token.pull|push.v1`) against the
 * registry in-process with real PostgreSQL and nats-server: what they grant is checked by
 * using them on the registry's HTTP API, as an agent's Docker engine does.
 */

let database: TestDatabase;
let nats: TestNats;
let registry: RegistryUnderTest;
const tenants = new Map<string, string>();
const acme = randomUUID();
const globex = randomUUID();

beforeAll(async () => {
  [database, nats] = await Promise.all([createTestDatabase('registry_service_tokens'), startNats()]);
  registry = await startRegistryUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, identityTenantNames: false });
  tenants.set(acme, 'acme');
  tenants.set(globex, 'globex');
  // The api's answer to "which name has this tenant".
  serveCommand(registry.nc, 'identity.cmd.tenant.name.v1', async ({ tenantId }) => {
    const tenantName = tenants.get(tenantId);
    if (!tenantName) throw new GureumError(ErrorCode.NotFound, `tenant ${tenantId} not found`);
    return { tenantId, tenantName };
  });
  await registry.nc.flush();
});

afterAll(async () => {
  await registry?.close();
  await nats?.stop();
  await database?.drop();
});

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** A single-request blob upload (`POST …/blobs/uploads/?digest=`), which needs push. */
async function uploadBlob(repository: string, token: string): Promise<number> {
  const blob = randomBytes(32);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const res = await fetch(`${registry.url}/v2/${repository}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': 'application/octet-stream' },
    body: blob,
  });
  return res.status;
}

describe('service tokens', () => {
  it('pull: only the tenant namespace, read only, one repository', async () => {
    const { token, expiresAt, actions } = await registry.control.request('registry.cmd.token.pull.v1', { tenantId: acme, repository: 'acme/app' });
    expect(actions).toEqual(['pull']);
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    // Accepted for reading acme/app (the repository does not exist yet: NAME_UNKNOWN, not 401/403) …
    expect((await fetch(`${registry.url}/v2/acme/app/tags/list`, { headers: bearer(token) })).status).toBe(404);
    // … but not for pushing there, nor for any other repository.
    expect(await uploadBlob('acme/app', token)).toBe(403);
    expect((await fetch(`${registry.url}/v2/acme/other/tags/list`, { headers: bearer(token) })).status).toBe(403);
  });

  it("refuses pulling another tenant's private repository and pushing outside the own namespace", async () => {
    await expect(registry.control.request('registry.cmd.token.pull.v1', { tenantId: globex, repository: 'acme/app' })).rejects.toMatchObject({
      code: ErrorCode.Forbidden,
      message: expect.stringMatching(/may not pull acme\/app/),
    });
    await expect(registry.control.request('registry.cmd.token.push.v1', { tenantId: globex, repository: 'acme/app' })).rejects.toMatchObject({
      code: ErrorCode.Forbidden,
    });
    await expect(registry.control.request('registry.cmd.token.pull.v1', { tenantId: randomUUID(), repository: 'acme/app' })).rejects.toMatchObject({
      code: ErrorCode.NotFound,
    });
  });

  it('push grants push and pull on that one repository; a public repository is pullable by every tenant', async () => {
    const push = await registry.control.request('registry.cmd.token.push.v1', { tenantId: acme, repository: 'acme/shared' });
    expect(push.actions).toEqual(['pull', 'push']);
    expect(await uploadBlob('acme/shared', push.token)).toBe(201);
    expect(await uploadBlob('acme/elsewhere', push.token)).toBe(403);

    await registry.control.request('registry.cmd.repository.visibility.v1', { name: 'acme/shared', public: true });
    const pull = await registry.control.request('registry.cmd.token.pull.v1', { tenantId: globex, repository: 'acme/shared' });
    expect(pull.actions).toEqual(['pull']);
    expect((await fetch(`${registry.url}/v2/acme/shared/tags/list`, { headers: bearer(pull.token) })).status).toBe(200);
  });
});
