import { readFile, rename, writeFile } from 'node:fs/promises';
import { ErrorCode, GureumError } from '@gureum/contracts';

export interface EnrolledAgent {
  nodeId: string;
  publicKey: string;
}

/**
 * Makes the message broker accept exactly these enrolled agents, each confined to its own
 * subjects. Resolves once the broker enforces the new set.
 */
export interface AgentAuthorization {
  readonly enabled: boolean;
  apply(agents: readonly EnrolledAgent[]): Promise<void>;
}

export const AGENT_AUTHORIZATION = Symbol('scheduler.agent-authorization');

export interface NatsAuthFileOptions {
  /** Static user entries (control, enrol, statically configured agents), comma-separated, written by the deploy. */
  baseFile: string;
  /** The file nats-server `include`s: the whole `authorization { … }` block, rewritten here. */
  authFile: string;
  /** nats-server's `pid_file`, to signal a configuration reload. */
  pidFile: string;
  /** nats-server monitoring URL; when given, apply() waits until the reload shows in /varz. */
  monitorUrl?: string;
}

/**
 * nats-server 2.9 (Debian 12) has no auth callout, so enrolled agents become NKey users in
 * the server's authorization file: the scheduler renders the file (static users + one NKey
 * user per enrolled agent), replaces it atomically, and sends the server SIGHUP (reload).
 * Only public keys are written; the file is still 0600 because the static users carry
 * passwords. The scheduler must run on the NATS host with the right to signal it.
 */
export class NatsAuthFile implements AgentAuthorization {
  readonly enabled = true;

  constructor(private readonly options: NatsAuthFileOptions) {}

  async apply(agents: readonly EnrolledAgent[]): Promise<void> {
    const base = (await readFile(this.options.baseFile, 'utf8')).trim().replace(/,\s*$/, '');
    const entries = [...agents].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1)).map(renderAgentUser);
    const text = ['# Written by the scheduler (enrolment): edit the base file, not this one.', 'authorization {', '  users = [', [base, ...entries].filter(Boolean).join(',\n'), '  ]', '}', ''].join('\n');
    const temporary = `${this.options.authFile}.tmp`;
    await writeFile(temporary, text, { mode: 0o600 });
    await rename(temporary, this.options.authFile);
    const before = await this.configLoadTime();
    const pid = Number((await readFile(this.options.pidFile, 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new GureumError(ErrorCode.Unavailable, `no nats-server pid in ${this.options.pidFile}`);
    process.kill(pid, 'SIGHUP');
    await this.waitForReload(before);
  }

  private async configLoadTime(): Promise<string | null> {
    if (!this.options.monitorUrl) return null;
    const response = await fetch(`${this.options.monitorUrl}/varz`);
    const body = (await response.json()) as { config_load_time?: string };
    return body.config_load_time ?? null;
  }

  private async waitForReload(before: string | null): Promise<void> {
    if (!this.options.monitorUrl) return;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if ((await this.configLoadTime()) !== before) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new GureumError(ErrorCode.Unavailable, 'nats-server did not reload its authorization in time');
  }
}

/** Enrolment is off when the scheduler is not told where the broker's authorization lives. */
export class NoAgentAuthorization implements AgentAuthorization {
  readonly enabled = false;

  apply(): Promise<void> {
    return Promise.reject(new GureumError(ErrorCode.Unavailable, 'agent enrolment is not configured on this scheduler'));
  }
}

/** The same confinement as statically configured agents (deploy/local/nats-config.mjs). */
export function renderAgentUser({ nodeId, publicKey }: EnrolledAgent): string {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(nodeId)) throw new Error(`invalid node id ${JSON.stringify(nodeId)}`);
  if (!/^U[A-Z2-7]{55}$/.test(publicKey)) throw new Error(`invalid NKey user ${JSON.stringify(publicKey)}`);
  const own = `"agent.${nodeId}.>"`;
  const inbox = `"_INBOX.agent-${nodeId}.>"`;
  return [
    `    {`,
    `      nkey: "${publicKey}",`,
    `      permissions: {`,
    `        publish: { allow: [${own}] },`,
    `        subscribe: { allow: [${own}, ${inbox}] },`,
    `        allow_responses: true`,
    `      }`,
    `    }`,
  ].join('\n');
}
