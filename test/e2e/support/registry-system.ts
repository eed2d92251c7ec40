import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createTestDatabase, freePort, spawnProcess, startNats, waitFor, type ManagedProcess, type TestDatabase, type TestNats } from '@gureum/testing';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');

export interface RegistryTenant {
  name: string;
  apiKey: string;
}

export interface RegistrySystemOptions {
  /**
   * Who answers `identity.cmd.credentials.verify.v1`: the real api (built `dist/`, tenants
   * created with its CLI), or a stand-in speaking the api's reply envelope from a table of
   * keys, for running the registry without the api.
   */
  identity: 'api' | 'stand-in';
}

type Env = Record<string, string | undefined>;

/**
 * The registry as a process from its built `dist/`, with its own database and nats-server,
 * and the identity owner `options.identity` names.
 */
export class RegistrySystem {
  url = '';
  /** The api's base URL (`identity: 'api'` only), e.g. `http://127.0.0.1:1234`. */
  apiUrl = '';
  private db: TestDatabase | null = null;
  private nats: TestNats | null = null;
  private nc: NatsConnection | null = null;
  private readonly processes: ManagedProcess[] = [];
  private readonly standInPrincipals = new Map<string, object>();
  private readonly logDir = path.join(ROOT, '.gureum-test', 'logs', `registry-${randomBytes(4).toString('hex')}`);
  private env: Env = {};

  constructor(private readonly options: RegistrySystemOptions) {}

  async start(): Promise<void> {
    this.db = await createTestDatabase('registry_e2e');
    this.nats = await startNats();
    this.env = {
      PATH: process.env['PATH'],
      GUREUM_DATABASE_URL: this.db.url,
      GUREUM_NATS_URL: this.nats.url,
      GUREUM_NATS_USER: this.nats.control.user,
      GUREUM_NATS_PASSWORD: this.nats.control.password,
      GUREUM_LOG_LEVEL: 'debug',
    };
    const apps = this.options.identity === 'api' ? ['api', 'registry'] : ['registry'];
    for (const app of apps) await exec(process.execPath, [path.join(ROOT, `apps/${app}/dist/migrate.js`)], { env: this.env, cwd: ROOT });
    if (this.options.identity === 'api') await this.startApi();
    else await this.startStandIn();
    await this.startRegistry();
  }

  /** A tenant with an owner API key. */
  async createTenant(prefix: string): Promise<RegistryTenant> {
    const name = `${prefix}${randomBytes(3).toString('hex')}`;
    if (this.options.identity === 'api') {
      const { stdout } = await exec(process.execPath, [path.join(ROOT, 'apps/api/dist/cli.js'), 'create-tenant', name, '--json'], { env: this.env, cwd: ROOT });
      const parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { apiKey?: string };
      if (!parsed.apiKey) throw new Error(`create-tenant printed no key: ${stdout}`);
      return { name, apiKey: parsed.apiKey };
    }
    const apiKey = `grm_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
    this.standInPrincipals.set(apiKey, { principalId: `key-${randomUUID().slice(0, 8)}`, kind: 'api_key', tenantId: randomUUID(), tenantName: name, role: 'owner' });
    return { name, apiKey };
  }

  /** Operator command over NATS (Nest's request envelope): make a repository public or private. */
  async setPublic(name: string, value: boolean): Promise<void> {
    const nats = this.nats as TestNats;
    this.nc ??= await connect({ servers: nats.url, user: nats.control.user, pass: nats.control.password, name: 'registry-e2e-control' });
    const reply = await this.nc.request('registry.cmd.repository.visibility.v1', JSON.stringify({ id: randomUUID(), data: { name, public: value } }), { timeout: 10_000 });
    const body = reply.json<{ response?: unknown; err?: unknown }>();
    if (body.err !== undefined) throw new Error(`visibility of ${name}: ${JSON.stringify(body.err)}`);
  }

  async readLog(): Promise<string> {
    const logs = await Promise.all(this.processes.map(async (managed) => `--- ${managed.name}\n${(await managed.readLog()).slice(-4000)}`));
    return logs.join('\n');
  }

  async stop(): Promise<void> {
    for (const managed of this.processes.reverse()) await managed.stop().catch(() => undefined);
    await this.nc?.drain().catch(() => undefined);
    await this.nats?.stop().catch(() => undefined);
    await this.db?.drop().catch(() => undefined);
  }

  private async startApi(): Promise<void> {
    const port = await freePort();
    this.apiUrl = `http://127.0.0.1:${port}`;
    await this.spawn('api', 'apps/api/dist/main.js', { GUREUM_API_PORT: String(port), GUREUM_API_HOST: '127.0.0.1' });
    await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${port}/v1/health`).catch(() => null);
        return response?.ok ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'api /v1/health' },
    );
  }

  private async startStandIn(): Promise<void> {
    const nats = this.nats as TestNats;
    this.nc = await connect({ servers: nats.url, user: nats.control.user, pass: nats.control.password, name: 'identity-stand-in' });
    this.nc.subscribe('identity.cmd.credentials.verify.v1', {
      callback: (_error, msg) => {
        const envelope = msg.json<{ id: string; data: { credential: { apiKey?: string } } }>();
        const principal = envelope.data.credential.apiKey ? this.standInPrincipals.get(envelope.data.credential.apiKey) : undefined;
        msg.respond(JSON.stringify(principal ? { id: envelope.id, response: principal } : { id: envelope.id, err: { code: 'unauthenticated', message: 'invalid credentials' } }));
      },
    });
    await this.nc.flush();
  }

  private async startRegistry(): Promise<void> {
    const port = await freePort();
    this.url = `127.0.0.1:${port}`;
    const storageDir = path.join(this.logDir, 'storage');
    await mkdir(storageDir, { recursive: true });
    await this.spawn('registry', 'apps/registry/dist/main.js', {
      GUREUM_REGISTRY_HOST: '127.0.0.1',
      GUREUM_REGISTRY_PORT: String(port),
      GUREUM_REGISTRY_STORAGE_DIR: storageDir,
      GUREUM_REGISTRY_TOKEN_SECRET: randomBytes(32).toString('hex'),
    });
    await waitFor(
      async () => {
        const response = await fetch(`http://${this.url}/v2/`).catch(() => null);
        return response?.status === 401 ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'registry /v2/' },
    );
  }

  private async spawn(name: string, script: string, env: Env): Promise<void> {
    this.processes.push(await spawnProcess({ name, command: process.execPath, args: [script], cwd: ROOT, logDir: this.logDir, env: { ...this.env, ...env } }));
  }
}
