import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, freePort, spawnProcess, startNats, waitFor, type ManagedProcess } from '@gureum/testing';
import { Client } from 'pg';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');

export interface TenantCredentials {
  id: string;
  name: string;
  apiKey: string;
}

export interface SystemOptions {
  label: string;
  /** Capacity the agent offers, so tests can fill a host without filling the machine. */
  agentCapacity: { cpuMillis: number; memoryMiB: number; pids: number };
  /** Also run the metering service, with the agent sampling usage every `sampleMs`. */
  metering?: { sampleMs: number };
  /** Also run the billing service (period e.g. `PT1H`); the api then enforces its hard-limit admission check. */
  billing?: { period: string; graceSeconds?: number; runIntervalMs?: number };
}

/**
 * The whole system as processes, from the built `dist/` of every app: its own database, its
 * own nats-server, one agent with a node id unique to this run (so it only ever touches
 * containers labelled for it), and the api on a free loopback port.
 */
export class System {
  readonly nodeId: string;
  apiUrl = '';
  private readonly processes = new Map<string, ManagedProcess>();
  private db: Awaited<ReturnType<typeof createTestDatabase>> | null = null;
  private nats: Awaited<ReturnType<typeof startNats>> | null = null;
  private pg: Client | null = null;
  private readonly logDir: string;

  constructor(private readonly options: SystemOptions) {
    this.nodeId = `e2e-${randomBytes(4).toString('hex')}`;
    this.logDir = path.join(ROOT, '.gureum-test', 'logs', `${options.label}-${this.nodeId}`);
  }

  /** `apiEnv`: extra environment of the api process (e.g. rate limits). */
  async start(apiEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    this.db = await createTestDatabase(this.options.label);
    this.nats = await startNats({ agents: [this.nodeId] });
    this.pg = new Client({ connectionString: this.db.url });
    await this.pg.connect();

    for (const app of ['api', 'scheduler', ...(this.options.metering ? ['metering'] : []), ...(this.options.billing ? ['billing'] : [])]) {
      const { stdout, stderr } = await exec('node', [path.join(ROOT, 'apps', app, 'dist', 'migrate.js')], { env: this.controlEnv(), cwd: ROOT }).catch(
        (error: unknown) => {
          throw new Error(`migrations of ${app} failed: ${String(error)}`);
        },
      );
      void stdout;
      void stderr;
    }

    const apiPort = await freePort();
    this.apiUrl = `http://127.0.0.1:${apiPort}`;
    await this.spawn('scheduler', ['apps/scheduler/dist/main.js'], { ...this.controlEnv(), GUREUM_HEARTBEAT_INTERVAL_MS: '1000' });
    if (this.options.metering) await this.spawn('metering', ['apps/metering/dist/main.js'], this.controlEnv());
    const billing = this.options.billing;
    if (billing) await this.startBilling();
    await this.spawn('api', ['apps/api/dist/main.js'], {
      ...this.controlEnv(),
      GUREUM_API_PORT: String(apiPort),
      GUREUM_API_HOST: '127.0.0.1',
      ...(billing ? { GUREUM_API_BILLING_ADMISSION: 'enforce' } : {}),
      ...apiEnv,
    });
    await this.startAgent();

    await waitFor(
      async () => {
        const res = await fetch(`${this.apiUrl}/v1/health`).catch(() => null);
        return res?.ok ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'api /v1/health' },
    );
    await this.waitForHostReady();
  }

  /** Starts (or, after a kill, restarts) the billing process. */
  async startBilling(): Promise<ManagedProcess> {
    const billing = this.options.billing;
    if (!billing) throw new Error('this system runs without billing');
    return this.spawn('billing', ['apps/billing/dist/main.js'], {
      ...this.controlEnv(),
      GUREUM_BILLING_PERIOD: billing.period,
      GUREUM_BILLING_GRACE_SECONDS: String(billing.graceSeconds ?? 1),
      GUREUM_BILLING_RUN_INTERVAL_MS: String(billing.runIntervalMs ?? 1000),
    });
  }

  async startAgent(): Promise<ManagedProcess> {
    const creds = this.requireNats().agent(this.nodeId);
    return this.spawn('agent', ['apps/agent/dist/main.js', '--driver', 'docker'], {
      GUREUM_NATS_URL: this.requireNats().url,
      GUREUM_NATS_USER: creds.user,
      GUREUM_NATS_PASSWORD: creds.password,
      GUREUM_AGENT_NODE_ID: this.nodeId,
      GUREUM_AGENT_STATE_DIR: path.join(this.logDir, 'agent-state'),
      GUREUM_AGENT_HEARTBEAT_MS: '1000',
      GUREUM_AGENT_RECONCILE_MS: '2000',
      GUREUM_AGENT_STOP_TIMEOUT_S: '2',
      GUREUM_AGENT_CPU_MILLIS: String(this.options.agentCapacity.cpuMillis),
      GUREUM_AGENT_MEMORY_MIB: String(this.options.agentCapacity.memoryMiB),
      GUREUM_AGENT_PIDS: String(this.options.agentCapacity.pids),
      GUREUM_LOG_LEVEL: 'debug',
      ...(this.options.metering ? { GUREUM_AGENT_SAMPLE_MS: String(this.options.metering.sampleMs) } : {}),
    });
  }

  process(name: 'api' | 'scheduler' | 'agent' | 'metering' | 'billing'): ManagedProcess {
    const managed = this.processes.get(name);
    if (!managed) throw new Error(`${name} is not running`);
    return managed;
  }

  async waitForHostReady(): Promise<void> {
    await waitFor(
      async () => {
        const { rows } = await this.query<{ state: string }>(`SELECT state FROM scheduler.hosts WHERE id = $1`, [this.nodeId]);
        return rows[0]?.state === 'ready' ? true : undefined;
      },
      { timeoutMs: 30_000, what: `host ${this.nodeId} ready` },
    );
  }

  async createTenant(name: string): Promise<TenantCredentials> {
    const { stdout } = await exec('node', [path.join(ROOT, 'apps/api/dist/cli.js'), 'create-tenant', name, '--json'], { env: this.controlEnv(), cwd: ROOT });
    const parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { tenant?: { id: string; name: string }; apiKey?: string; id?: string };
    const id = parsed.tenant?.id ?? parsed.id;
    if (!id || !parsed.apiKey) throw new Error(`create-tenant printed no tenant id and key: ${stdout}`);
    return { id, name, apiKey: parsed.apiKey };
  }

  async createOperatorKey(name: string): Promise<string> {
    const { stdout } = await exec('node', [path.join(ROOT, 'apps/api/dist/cli.js'), 'create-operator-key', name, '--json'], { env: this.controlEnv(), cwd: ROOT });
    const parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { apiKey?: string };
    if (!parsed.apiKey) throw new Error(`create-operator-key printed no key: ${stdout}`);
    return parsed.apiKey;
  }

  /** NATS as the control plane connects to it (the registry would use the same). */
  natsControl(): { url: string; user: string; password: string } {
    const nats = this.requireNats();
    return { url: nats.url, ...nats.control };
  }

  /** Everything the processes of this system wrote to their log files so far. */
  async readLogs(): Promise<string> {
    const { readdir, readFile } = await import('node:fs/promises');
    const files = (await readdir(this.logDir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile() && entry.name.endsWith('.log'));
    const texts = await Promise.all(files.map((entry) => readFile(path.join(entry.parentPath, entry.name), 'utf8')));
    if (texts.length === 0) throw new Error(`no log files under ${this.logDir}`);
    return texts.join('\n');
  }

  async query<T extends object>(sql: string, params: unknown[] = []): Promise<{ rows: T[] }> {
    if (!this.pg) throw new Error('system not started');
    const result = await this.pg.query(sql, params);
    return { rows: result.rows as T[] };
  }

  /** Containers this run's agent created (by its node label). */
  async containerIds(filters: Record<string, string> = {}): Promise<string[]> {
    const args = ['ps', '-a', '-q', '--no-trunc', '--filter', `label=io.gureum.node=${this.nodeId}`];
    for (const [key, value] of Object.entries(filters)) args.push('--filter', `label=${key}=${value}`);
    const { stdout } = await exec('docker', args);
    return stdout.split('\n').filter(Boolean);
  }

  async stop(): Promise<void> {
    for (const name of ['agent', 'api', 'scheduler', 'metering', 'billing']) await this.processes.get(name)?.stop().catch(() => undefined);
    const leftovers = await this.containerIds().catch(() => []);
    if (leftovers.length > 0) await exec('docker', ['rm', '-f', ...leftovers]).catch(() => undefined);
    const { stdout } = await exec('docker', ['network', 'ls', '-q', '--filter', 'label=io.gureum.managed=true']).catch(() => ({ stdout: '' }));
    for (const network of stdout.split('\n').filter(Boolean)) await exec('docker', ['network', 'rm', network]).catch(() => undefined);
    await this.pg?.end().catch(() => undefined);
    await this.nats?.stop().catch(() => undefined);
    await this.db?.drop().catch(() => undefined);
  }

  private controlEnv(): NodeJS.ProcessEnv {
    const nats = this.requireNats();
    if (!this.db) throw new Error('system not started');
    return {
      PATH: process.env['PATH'],
      GUREUM_DATABASE_URL: this.db.url,
      GUREUM_NATS_URL: nats.url,
      GUREUM_NATS_USER: nats.control.user,
      GUREUM_NATS_PASSWORD: nats.control.password,
      GUREUM_LOG_LEVEL: 'debug',
    };
  }

  private requireNats(): Awaited<ReturnType<typeof startNats>> {
    if (!this.nats) throw new Error('system not started');
    return this.nats;
  }

  private async spawn(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<ManagedProcess> {
    const managed = await spawnProcess({ name, command: process.execPath, args, env: { PATH: process.env['PATH'], ...env }, cwd: ROOT, logDir: this.logDir });
    this.processes.set(name, managed);
    return managed;
  }
}

export async function dockerInspect(containerId: string): Promise<{ pid: number; startedAt: string; running: boolean; oomKilled: boolean }> {
  const { stdout } = await exec('docker', ['inspect', '-f', '{{json .State}}', containerId]);
  const state = JSON.parse(stdout) as { Pid: number; StartedAt: string; Running: boolean; OOMKilled: boolean };
  return { pid: state.Pid, startedAt: state.StartedAt, running: state.Running, oomKilled: state.OOMKilled };
}
