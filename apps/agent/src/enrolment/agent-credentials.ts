import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NodeIdSchema } from '@gureum/contracts';
import { Bus, connectNatsPatiently } from '@gureum/messaging';
import { connect, nkeyAuthenticator, nkeys } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { z } from 'zod';

/** What an enrolled agent keeps on its node: its NKey seed never leaves this file. */
const StoredCredentialsSchema = z.object({
  nodeId: NodeIdSchema,
  publicKey: z.string().regex(/^U[A-Z2-7]{55}$/),
  seed: z.string().regex(/^SU[A-Z2-7]+$/),
  /** False between writing the key and the scheduler accepting it. */
  enrolled: z.boolean(),
});
type StoredCredentials = z.infer<typeof StoredCredentialsSchema>;

export interface AgentNatsIdentity {
  nkeySeed: string;
  inboxPrefix: string;
}

export interface EnrolmentOptions {
  stateDir: string;
  nodeId: string;
  natsUrl: string;
  /** One-time token from `POST /v1/admin/join-tokens`. */
  joinToken: string;
  /** The restricted user that may only ask for credentials. */
  enrolUser: { user: string; password: string };
}

export const CREDENTIALS_FILE = 'nats-credentials.json';

/** The agent's own credentials from an earlier enrolment, or null when it has none yet. */
export async function loadAgentCredentials(stateDir: string, nodeId: string): Promise<AgentNatsIdentity | null> {
  let text: string;
  try {
    text = await readFile(path.join(stateDir, CREDENTIALS_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const stored = StoredCredentialsSchema.parse(JSON.parse(text));
  if (!stored.enrolled) return null;
  if (stored.nodeId !== nodeId) throw new Error(`${CREDENTIALS_FILE} belongs to node ${stored.nodeId}, not ${nodeId}`);
  return { nkeySeed: stored.seed, inboxPrefix: `_INBOX.agent-${nodeId}` };
}

/**
 * Presents the join token once: generates an NKey pair on the node, sends only the public key
 * (as the restricted `enrol` user), and persists the seed with mode 0600. The key is written
 * before asking, so a crash after the scheduler spent the token does not lose the identity
 * the scheduler now trusts.
 */
export async function enrol(options: EnrolmentOptions, logger: Logger): Promise<AgentNatsIdentity> {
  const file = path.join(options.stateDir, CREDENTIALS_FILE);
  await mkdir(options.stateDir, { recursive: true, mode: 0o700 });
  const pending = await readPending(file, options.nodeId);
  const stored = pending ?? newCredentials(options.nodeId);
  if (!pending) await writeCredentials(file, stored);
  const inboxPrefix = `_INBOX.agent-${options.nodeId}`;
  // A previous attempt may have been accepted just before this process died: then the token
  // is spent, but the key it registered already works.
  if (pending && (await keyIsAccepted(options.natsUrl, stored.seed, inboxPrefix))) {
    await writeCredentials(file, { ...stored, enrolled: true });
    logger.info({ publicKey: stored.publicKey }, 'enrolment of an earlier attempt was accepted; using its key');
    return { nkeySeed: stored.seed, inboxPrefix };
  }

  const nc = await connectNatsPatiently({ url: options.natsUrl, name: `enrol-${options.nodeId}`, ...options.enrolUser, inboxPrefix: '_INBOX.enrol' });
  try {
    const reply = await new Bus(nc, 15_000).request('enrol.req.agent.credentials.v1', { token: options.joinToken, nodeId: options.nodeId, publicKey: stored.publicKey });
    await writeCredentials(file, { ...stored, enrolled: true });
    logger.info({ publicKey: stored.publicKey }, 'enrolled: this node has NATS credentials of its own');
    return { nkeySeed: stored.seed, inboxPrefix: reply.inboxPrefix };
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function keyIsAccepted(url: string, seed: string, inboxPrefix: string): Promise<boolean> {
  try {
    const nc = await connect({ servers: url, authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)), inboxPrefix, reconnect: false, timeout: 5000 });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

function newCredentials(nodeId: string): StoredCredentials {
  const pair = nkeys.createUser();
  return { nodeId, publicKey: pair.getPublicKey(), seed: new TextDecoder().decode(pair.getSeed()), enrolled: false };
}

async function readPending(file: string, nodeId: string): Promise<StoredCredentials | null> {
  try {
    const stored = StoredCredentialsSchema.parse(JSON.parse(await readFile(file, 'utf8')));
    return stored.nodeId === nodeId ? stored : null;
  } catch {
    return null;
  }
}

async function writeCredentials(file: string, credentials: StoredCredentials): Promise<void> {
  const temporary = `${file}.tmp`;
  await rm(temporary, { force: true });
  await writeFile(temporary, `${JSON.stringify(credentials)}\n`, { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
}
