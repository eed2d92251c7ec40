import { fingerprintApiKey, generateApiKey, hashSecret, parseApiKey, verifySecret } from './api-key-secret';

// Low cost keeps the suite fast; the format and comparison are what is under test here.
const CHEAP = { N: 1024, r: 8, p: 1 };

describe('API key material', () => {
  it('generates grm_<12 char prefix>_<43 char base64url secret> keys that parse back', () => {
    const keys = Array.from({ length: 200 }, () => generateApiKey());
    for (const key of keys) {
      expect(key.plaintext).toMatch(/^grm_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
      expect(parseApiKey(key.plaintext)).toEqual({ prefix: key.prefix, secret: key.secret });
      expect(Buffer.from(key.secret, 'base64url')).toHaveLength(32);
    }
    expect(new Set(keys.map((k) => k.prefix)).size).toBe(keys.length);
  });

  it.each([
    ['empty', ''],
    ['wrong scheme', 'sk_abcdefghijkl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['uppercase prefix', 'grm_ABCDEFGHIJKL_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['short prefix', 'grm_abc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['short secret', 'grm_abcdefghijkl_AAAA'],
    ['trailing data', 'grm_abcdefghijkl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA '],
    ['padding', 'grm_abcdefghijkl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='],
  ])('rejects a malformed key (%s)', (_case, presented) => {
    expect(parseApiKey(presented)).toBeNull();
  });

  it('stores scrypt$N$r$p$salt$hash with a fresh salt per hash, never the secret', async () => {
    const { secret } = generateApiKey();
    const first = await hashSecret(secret, CHEAP);
    const second = await hashSecret(secret, CHEAP);
    expect(first).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(first).not.toBe(second);
    expect(first).not.toContain(secret);
  });

  it('verifies the right secret and rejects any other', async () => {
    const key = generateApiKey();
    const stored = await hashSecret(key.secret, CHEAP);
    await expect(verifySecret(key.secret, stored)).resolves.toBe(true);
    await expect(verifySecret(generateApiKey().secret, stored)).resolves.toBe(false);
    const oneCharOff = `${key.secret.slice(0, -1)}${key.secret.endsWith('A') ? 'B' : 'A'}`;
    await expect(verifySecret(oneCharOff, stored)).resolves.toBe(false);
  });

  it('verifies with the cost recorded in the hash, so costs can be raised later', async () => {
    const { secret } = generateApiKey();
    await expect(verifySecret(secret, await hashSecret(secret, { N: 2048, r: 4, p: 2 }))).resolves.toBe(true);
  });

  it.each(['', 'plaintext', 'scrypt$1024$8$1$salt', 'bcrypt$1024$8$1$c2FsdA$aGFzaA', 'scrypt$0$8$1$c2FsdA$aGFzaA', 'scrypt$1024$8$1$$aGFzaA'])(
    'treats a malformed stored hash (%p) as not matching instead of throwing',
    async (stored) => {
      await expect(verifySecret('anything', stored)).resolves.toBe(false);
    },
  );

  it('fingerprints keys without containing them', () => {
    const { plaintext } = generateApiKey();
    expect(fingerprintApiKey(plaintext)).toBe(fingerprintApiKey(plaintext));
    expect(fingerprintApiKey(plaintext)).not.toContain(plaintext.slice(17));
    expect(fingerprintApiKey(plaintext)).not.toBe(fingerprintApiKey(generateApiKey().plaintext));
  });
});
