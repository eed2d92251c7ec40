import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * API key material. A key is shown to its owner exactly once, as `grm_<prefix>_<secret>`;
 * only the prefix (to find the row) and a salted scrypt hash of the secret are stored.
 */

const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const PREFIX_LENGTH = 12;
const SECRET_BYTES = 32;
/** base64url of 32 bytes, unpadded. The secret may itself contain `_` and `-`. */
const PRESENTED_KEY = /^grm_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** scrypt cost for new hashes: ~16 MiB and a few tens of ms, paid once per cache miss. */
export const DEFAULT_SCRYPT_COST = { N: 16384, r: 8, p: 1 } as const;
const HASH_BYTES = 32;
const SALT_BYTES = 16;

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

export interface GeneratedApiKey {
  /** The full key, shown once to whoever created it and never stored. */
  plaintext: string;
  prefix: string;
  secret: string;
}

export interface PresentedApiKey {
  prefix: string;
  secret: string;
}

export function generateApiKey(): GeneratedApiKey {
  const prefix = randomPrefix();
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { plaintext: `grm_${prefix}_${secret}`, prefix, secret };
}

/** Null for anything that is not shaped like one of our keys, so it never reaches the database. */
export function parseApiKey(presented: string): PresentedApiKey | null {
  const match = PRESENTED_KEY.exec(presented);
  if (!match) return null;
  return { prefix: match[1]!, secret: match[2]! };
}

/** `scrypt$N$r$p$salt$hash`, salt and hash in base64url: the parameters travel with the hash so they can be raised later. */
export async function hashSecret(secret: string, cost: ScryptCost = DEFAULT_SCRYPT_COST): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(secret, salt, HASH_BYTES, cost);
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Constant-time comparison; a malformed stored hash verifies nothing rather than throwing. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parsed = parseStoredHash(stored);
  if (!parsed) return false;
  const actual = await scryptAsync(secret, parsed.salt, parsed.hash.length, parsed.cost);
  return actual.length === parsed.hash.length && timingSafeEqual(actual, parsed.hash);
}

/** Cache key for a presented key: the key itself must not sit in memory longer than the request. */
export function fingerprintApiKey(presented: string): string {
  return createHash('sha256').update(presented).digest('base64url');
}

function parseStoredHash(stored: string): { cost: ScryptCost; salt: Buffer; hash: Buffer } | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return null;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const hash = Buffer.from(parts[5]!, 'base64url');
  if (salt.length === 0 || hash.length === 0) return null;
  return { cost: { N, r, p }, salt, hash };
}

function scryptAsync(secret: string, salt: Buffer, length: number, cost: ScryptCost): Promise<Buffer> {
  // 128 * N * r is scrypt's memory need; leave headroom so raised costs do not hit Node's 32 MiB default.
  const options: ScryptOptions = { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r };
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, length, options, (error, derived) => (error ? reject(error) : resolve(derived)));
  });
}

function randomPrefix(): string {
  // Rejection sampling: 256 is not a multiple of 36, and a modulo would bias the first letters.
  const limit = 256 - (256 % PREFIX_ALPHABET.length);
  let prefix = '';
  while (prefix.length < PREFIX_LENGTH) {
    for (const byte of randomBytes(PREFIX_LENGTH * 2)) {
      if (byte < limit && prefix.length < PREFIX_LENGTH) prefix += PREFIX_ALPHABET[byte % PREFIX_ALPHABET.length];
    }
  }
  return prefix;
}
