import { generateApiKey, hashSecret, verifySecret } from './api-key-secret';
import { ApiKeyVerifier, type ApiKeyRecord, type ApiKeyStore } from './api-key-verifier';

const CHEAP = { N: 1024, r: 8, p: 1 };
const TENANT = '2d3c1d8e-8d0e-4c61-9a5a-7b1e6b2f9c10';

class FakeStore implements ApiKeyStore {
  readonly records = new Map<string, ApiKeyRecord>();
  readonly marked: Array<{ keyId: string; at: Date }> = [];
  failMarkUsed = false;

  async findByPrefix(prefix: string): Promise<ApiKeyRecord | null> {
    const record = this.records.get(prefix);
    return record ? { ...record } : null;
  }
  async markUsed(keyId: string, at: Date): Promise<void> {
    if (this.failMarkUsed) throw new Error('database went away');
    this.marked.push({ keyId, at });
    for (const record of this.records.values()) if (record.id === keyId) record.lastUsedAt = at;
  }
}

async function setup(overrides: Partial<ApiKeyRecord> = {}) {
  const store = new FakeStore();
  const key = generateApiKey();
  const record: ApiKeyRecord = {
    id: 'key-1',
    tenantId: TENANT,
    tenantStatus: 'active',
    role: 'member',
    secretHash: await hashSecret(key.secret, CHEAP),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    ...overrides,
  };
  store.records.set(key.prefix, record);
  let now = Date.parse('2026-01-01T00:00:00Z');
  const scryptChecks: string[] = [];
  const markUsedErrors: unknown[] = [];
  const verifier = new ApiKeyVerifier(store, {
    now: () => now,
    verifySecret: (secret, stored) => {
      scryptChecks.push(stored);
      return verifySecret(secret, stored);
    },
    onMarkUsedError: (error) => markUsedErrors.push(error),
  });
  return {
    store,
    key,
    record: store.records.get(key.prefix)!,
    verifier,
    scryptChecks,
    markUsedErrors,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('ApiKeyVerifier', () => {
  it('accepts a valid key and returns its principal, never the secret', async () => {
    const { verifier, key } = await setup();
    const result = await verifier.verify(key.plaintext);
    expect(result).toEqual({ ok: true, principal: { principalId: 'key-1', kind: 'api_key', tenantId: TENANT, role: 'member' } });
    expect(JSON.stringify(result)).not.toContain(key.secret);
  });

  it('rejects the right prefix with a wrong secret', async () => {
    const { verifier, key } = await setup();
    const forged = `grm_${key.prefix}_${generateApiKey().secret}`;
    await expect(verifier.verify(forged)).resolves.toEqual({ ok: false, reason: 'wrong_secret' });
  });

  it('rejects an unknown prefix without a scrypt check: the 62-bit id part cannot be guessed, so there is no secret to spend time on', async () => {
    const { verifier, scryptChecks } = await setup();
    await expect(verifier.verify(generateApiKey().plaintext)).resolves.toEqual({ ok: false, reason: 'unknown' });
    expect(scryptChecks).toHaveLength(0);
  });

  it('rejects malformed input without touching the store', async () => {
    const { verifier, store } = await setup();
    const findByPrefix = jest.spyOn(store, 'findByPrefix');
    await expect(verifier.verify('Bearer nonsense')).resolves.toEqual({ ok: false, reason: 'malformed' });
    expect(findByPrefix).not.toHaveBeenCalled();
  });

  it('rejects an expired key, and accepts it until the moment it expires', async () => {
    const { verifier, key, record, advance, now } = await setup();
    record.expiresAt = new Date(now() + 1000);
    await expect(verifier.verify(key.plaintext)).resolves.toMatchObject({ ok: true });
    advance(1000);
    await expect(verifier.verify(key.plaintext)).resolves.toEqual({ ok: false, reason: 'expired' });
  });

  it('rejects a revoked key even while its verification is cached', async () => {
    const { verifier, key, record, scryptChecks, now } = await setup();
    await expect(verifier.verify(key.plaintext)).resolves.toMatchObject({ ok: true });
    record.revokedAt = new Date(now());
    await expect(verifier.verify(key.plaintext)).resolves.toEqual({ ok: false, reason: 'revoked' });
    expect(scryptChecks).toHaveLength(1);
  });

  it('does not reveal revocation to a caller without the secret', async () => {
    const { verifier, key } = await setup({ revokedAt: new Date('2025-01-01T00:00:00Z') });
    await expect(verifier.verify(`grm_${key.prefix}_${generateApiKey().secret}`)).resolves.toEqual({ ok: false, reason: 'wrong_secret' });
  });

  it('rejects keys of a suspended tenant', async () => {
    const { verifier, key } = await setup({ tenantStatus: 'suspended' });
    await expect(verifier.verify(key.plaintext)).resolves.toEqual({
      ok: false,
      reason: 'tenant_suspended',
      principal: { principalId: 'key-1', kind: 'api_key', tenantId: TENANT, role: 'member' },
    });
  });

  it('accepts operator keys, which have no tenant', async () => {
    const { verifier, key } = await setup({ tenantId: null, tenantStatus: null, role: 'operator' });
    await expect(verifier.verify(key.plaintext)).resolves.toEqual({ ok: true, principal: { principalId: 'key-1', kind: 'api_key', tenantId: null, role: 'operator' } });
  });

  it('runs scrypt once per key per 10 s, not on every request', async () => {
    const { verifier, key, scryptChecks, advance } = await setup();
    for (let i = 0; i < 5; i += 1) await expect(verifier.verify(key.plaintext)).resolves.toMatchObject({ ok: true });
    expect(scryptChecks).toHaveLength(1);
    advance(10_001);
    await expect(verifier.verify(key.plaintext)).resolves.toMatchObject({ ok: true });
    expect(scryptChecks).toHaveLength(2);
  });

  it('does not let a cached verification satisfy a replaced hash', async () => {
    const { verifier, key, record } = await setup();
    await expect(verifier.verify(key.plaintext)).resolves.toMatchObject({ ok: true });
    record.secretHash = await hashSecret(generateApiKey().secret, CHEAP);
    await expect(verifier.verify(key.plaintext)).resolves.toEqual({ ok: false, reason: 'wrong_secret' });
  });

  it('records use at most once a minute per key', async () => {
    const { verifier, key, store, advance } = await setup();
    await verifier.verify(key.plaintext);
    advance(30_000);
    await verifier.verify(key.plaintext);
    await flush();
    expect(store.marked).toHaveLength(1);
    advance(30_000);
    await verifier.verify(key.plaintext);
    await flush();
    expect(store.marked.map((m) => m.at.toISOString())).toEqual(['2026-01-01T00:00:00.000Z', '2026-01-01T00:01:00.000Z']);
  });

  it('still authenticates when recording use fails, and reports the failure', async () => {
    const { verifier, key, store, markUsedErrors } = await setup();
    store.failMarkUsed = true;
    await expect(verifier.verify(key.plaintext)).resolves.toMatchObject({ ok: true });
    await flush();
    expect(markUsedErrors).toHaveLength(1);
  });
});
