import { createHash, type Hash } from 'node:crypto';
import { OciError } from './oci-error';

export type DigestAlgorithm = 'sha256' | 'sha512';
const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** `<algorithm>:<hex>`. */
  value: string;
}

/** Parses `<algorithm>:<hex>`; null when it is not a digest this registry can verify. */
export function tryParseDigest(text: string): Digest | null {
  const match = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/.exec(text);
  if (!match) return null;
  const algorithm = match[1] as DigestAlgorithm;
  const hex = match[2] as string;
  if (!(algorithm in HEX_LENGTH) || hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) return null;
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

export function parseDigest(text: string): Digest {
  const digest = tryParseDigest(text);
  if (!digest) throw new OciError('DIGEST_INVALID', 'invalid or unsupported digest', { digest: text });
  return digest;
}

export function looksLikeDigest(reference: string): boolean {
  return reference.includes(':');
}

export function digestHasher(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Buffer, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
