import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits: guessing is hopeless, so enrolment needs no rate limit of its own. */
export function newJoinToken(): string {
  return `gjt_${randomBytes(32).toString('base64url')}`;
}

/** Only the hash is stored; a database reader cannot enrol with what it sees. */
export function hashJoinToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
