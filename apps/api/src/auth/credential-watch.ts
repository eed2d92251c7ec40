import { ErrorCode, GureumError } from '@gureum/contracts';
import type { Logger } from 'pino';
import { authenticateBearer } from './access-guard';
import type { ApiKeyVerifier } from './api-key-verifier';
import type { SessionService } from '../sessions/session.service';

export interface CredentialWatch {
  apiKeys: ApiKeyVerifier;
  sessions: SessionService;
  /** The bearer credential the long-lived response was opened with. */
  presented: string;
  everyMs: number;
  log: Logger;
  /** Called once, when the credential stops being valid (revoked key, ended session, removed user, deleted tenant). */
  onRevoked: () => void;
}

/**
 * Re-checks the credential of a long-lived response (an event stream, a followed log) every
 * `everyMs`; a check that cannot be made (the database away) keeps the response open.
 * Returns the function that stops watching.
 */
export function watchCredential({ apiKeys, sessions, presented, everyMs, log, onRevoked }: CredentialWatch): () => void {
  let checking = false;
  let revoked = false;
  const timer = setInterval(() => {
    if (checking || revoked) return;
    checking = true;
    authenticateBearer(apiKeys, sessions, presented)
      .then(
        () => undefined,
        (error: unknown) => {
          if (!(error instanceof GureumError) || error.code !== ErrorCode.Unauthenticated) {
            log.warn({ err: error }, 'could not re-check the credential of a long-lived response; keeping it open');
            return;
          }
          revoked = true;
          clearInterval(timer);
          onRevoked();
        },
      )
      .finally(() => {
        checking = false;
      });
  }, everyMs);
  return () => clearInterval(timer);
}
