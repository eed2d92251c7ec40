import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot, testStateDir } from './paths';
import { freePort } from './ports';
import { type ManagedProcess, spawnProcess } from './process';
import { waitFor } from './wait-for';

type NatsConfigModule = typeof import('../../../deploy/local/nats-config.mjs');
let natsConfigModule: Promise<NatsConfigModule> | undefined;

/**
 * deploy/local/nats-config.mjs, the generator the local stack uses too. It is a repo script
 * (plain Node, no build), not a lib, so it is loaded by path rather than imported.
 */
export function loadNatsConfig(): Promise<NatsConfigModule> {
  natsConfigModule ??= import(path.join(repoRoot(), 'deploy', 'local', 'nats-config.mjs')) as Promise<NatsConfigModule>;
  return natsConfigModule;
}

export interface NatsCredentials {
  user: string;
  password: string;
}

export interface AgentNatsCredentials extends NatsCredentials {
  /** Pass as the client's `inboxPrefix`: an agent may only subscribe to its own inboxes. */
  inboxPrefix: string;
}

export interface TestNats {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  /** Monitoring endpoint, e.g. `${monitorUrl}/jsz`. */
  monitorUrl: string;
  control: NatsCredentials;
  /** Credentials of `agent-<nodeId>`; throws for a node not passed in `agents`. */
  agent(nodeId: string): AgentNatsCredentials;
  process: ManagedProcess;
  /** Stops the server and deletes its JetStream store. */
  stop(): Promise<void>;
  /**
   * A fault: stops nats-server (SIGTERM), keeping its store, and starts it again with the same
   * configuration and ports after `downMs`; resolves once it is healthy again. `process` is
   * the new server afterwards.
   */
  restart(downMs: number): Promise<void>;
  /** With `enrolment: true`: the files the scheduler rewrites, and the restricted `enrol` user. */
  enrolment?: { baseFile: string; authFile: string; pidFile: string; monitorUrl: string; user: NatsCredentials & { inboxPrefix: string } };
}

export interface StartNatsOptions {
  /** Node ids that get an `agent-<nodeId>` user restricted to `agent.<nodeId>.>`. */
  agents?: string[];
  /** Authorization in an include file the scheduler may rewrite (agent enrolment), plus an `enrol` user. */
  enrolment?: boolean;
}

/**
 * Starts a nats-server of its own (JetStream on, the production auth layout from
 * deploy/local/nats-config.mjs) on free loopback ports, and waits until it is healthy.
 * One per test file keeps test files independent, so they can run in parallel.
 */
export async function startNats(opts: StartNatsOptions = {}): Promise<TestNats> {
  const { agentInboxPrefix, agentUser, renderNatsConfig, renderStaticUsers, renderAuthorization, ENROL_USER, ENROL_INBOX_PREFIX } = await loadNatsConfig();
  const controlPassword = secret();
  const agentPasswords: Record<string, string> = {};
  for (const nodeId of opts.agents ?? []) agentPasswords[nodeId] = secret();

  const root = testStateDir('nats');
  mkdirSync(root, { recursive: true });
  const dir = await mkdtemp(path.join(root, 'nats-'));
  const storeDir = path.join(dir, 'store');
  const configFile = path.join(dir, 'nats.conf');
  const binary = natsServerBinary();
  const enrolPassword = secret();
  const enrolFiles = opts.enrolment
    ? { baseFile: path.join(dir, 'auth-base.conf'), authFile: path.join(dir, 'auth.conf'), pidFile: path.join(dir, 'nats.pid') }
    : undefined;
  if (enrolFiles) {
    const base = renderStaticUsers({ controlPassword, agents: agentPasswords, enrolPassword });
    await writeFile(enrolFiles.baseFile, base, { mode: 0o600 });
    await writeFile(enrolFiles.authFile, renderAuthorization(base), { mode: 0o600 });
  }

  let lastFailure = '';
  // freePort() cannot reserve the port: another process may take it first, so retry.
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const port = await freePort();
    const httpPort = await freePort();
    await writeFile(
      configFile,
      renderNatsConfig({
        port,
        httpPort,
        storeDir,
        controlPassword,
        agents: agentPasswords,
        ...(enrolFiles ? { enrolment: { enrolPassword, authInclude: path.basename(enrolFiles.authFile), pidFile: enrolFiles.pidFile } } : {}),
      }),
      { mode: 0o600 },
    );
    const proc = await spawnProcess({
      name: `nats-${path.basename(dir)}`,
      command: binary,
      args: ['-c', configFile],
      scratchDir: dir,
    });
    const monitorUrl = `http://127.0.0.1:${httpPort}`;
    const died = proc.exited.then(async (code) => {
      throw new Error(`nats-server exited (code ${code}) during startup:\n${(await proc.readLog()).slice(-2000)}`);
    });
    try {
      await Promise.race([
        died,
        waitFor(async () => (await fetch(`${monitorUrl}/healthz`)).ok, {
          timeoutMs: 20_000,
          intervalMs: 50,
          what: `nats-server on 127.0.0.1:${port} to be healthy`,
        }),
      ]);
    } catch (error) {
      await proc.stop('SIGKILL', 2_000);
      lastFailure = error instanceof Error ? error.message : String(error);
      continue;
    }
    died.catch(() => undefined); // later exits are the test's business

    const spawnServer = () => spawnProcess({ name: `nats-${path.basename(dir)}`, command: binary, args: ['-c', configFile], scratchDir: dir });
    const server: TestNats = {
      url: `nats://127.0.0.1:${port}`,
      monitorUrl,
      control: { user: 'control', password: controlPassword },
      agent(nodeId: string) {
        const password = agentPasswords[nodeId];
        if (password === undefined) {
          throw new Error(`no NATS user for node ${nodeId}: pass it in startNats({ agents: [...] })`);
        }
        return { user: agentUser(nodeId), password, inboxPrefix: agentInboxPrefix(nodeId) };
      },
      ...(enrolFiles
        ? { enrolment: { ...enrolFiles, monitorUrl, user: { user: ENROL_USER, password: enrolPassword, inboxPrefix: ENROL_INBOX_PREFIX } } }
        : {}),
      process: proc,
      async stop() {
        await server.process.stop('SIGTERM', 5_000);
        await rm(dir, { recursive: true, force: true });
      },
      async restart(downMs: number) {
        await server.process.stop('SIGTERM', 5_000);
        await new Promise((resolve) => setTimeout(resolve, downMs));
        server.process = await spawnServer();
        await waitFor(async () => (await fetch(`${monitorUrl}/healthz`).catch(() => null))?.ok === true || undefined, {
          timeoutMs: 20_000,
          intervalMs: 50,
          what: `nats-server on 127.0.0.1:${port} to be healthy again`,
        });
      },
    };
    return server;
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`could not start nats-server after 3 attempts: ${lastFailure}`);
}

function secret(): string {
  return randomBytes(18).toString('base64url');
}

/** Path of the nats-server binary (GUREUM_NATS_SERVER, PATH, /usr/sbin). */
export function natsServerBinary(): string {
  const candidates = [
    process.env['GUREUM_NATS_SERVER'],
    ...(process.env['PATH'] ?? '').split(path.delimiter).map((dir) => path.join(dir, 'nats-server')),
    '/usr/sbin/nats-server',
    '/usr/bin/nats-server',
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error('nats-server not found: install it (apt-get install nats-server) or set GUREUM_NATS_SERVER');
}
