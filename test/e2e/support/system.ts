import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
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

export type SystemProcessName = 'api' | 'scheduler' | 'agent' | 'agent-b' | 'metering' | 'registry' | 'billing' | `agent-x${number}`;

export interface SystemOptions {
  label: string;
  /** Capacity the agent offers, so tests can fill a host without filling the machine. */
  agentCapacity: { cpuMillis: number; memoryMiB: number; pids: number };
  /** Also run the metering service, with the agent sampling usage every `sampleMs` (and extra metering environment). */
  metering?: { sampleMs: number; env?: NodeJS.ProcessEnv };
  /** Also run the registry (the api's `GET /v1/images` asks it); `registryUrl` is where it listens. */
  registry?: boolean;
  /**
   * Also run a second agent (node `secondNodeId`, same Docker engine) that enrols itself with a
   * one-time join token instead of a configured NATS user (hosts e2e).
   */
  secondAgent?: boolean;
  /** Agent drivers (`--driver`), default `docker`; extra agent environment (e.g. VM templates). */
  agent?: { drivers?: string; env?: NodeJS.ProcessEnv };
  /** More agents (same drivers) with node ids of their own, started by `startExtraAgent(i)`. */
  extraAgents?: number;
  /** Also run the billing service (period e.g. `PT1H`); the api then enforces its hard-limit admission check. */
  billing?: { period: string; graceSeconds?: number; runIntervalMs?: number };
  /** Heartbeat interval of the agents and the scheduler (ms, default 1000). */
  heartbeatMs?: number;
  /** Extra environment of the scheduler (e.g. `GUREUM_SCHEDULER_DISCONNECT_GRACE_MS`). */
  schedulerEnv?: NodeJS.ProcessEnv;
  /** The PostgreSQL server to make this system's database on (default: the shared test server, which must never be stopped). */
  pgAdminUrl?: string;
}

/**
 * The whole system as processes, from the built `dist/` of every app: its own database, its
 * own nats-server, one agent with a node id unique to this run (so it only ever touches
 * containers labelled for it), and the api on a free loopback port.
 */
export class System {
  readonly nodeId: string;
  /** The second agent's node id (only with `secondAgent`). */
  readonly secondNodeId: string;
  readonly extraNodeIds: string[];
  apiUrl = '';
  /** `127.0.0.1:<port>` of the registry when `options.registry`, as image references name it. */
  registryAddress = '';
  /** The same address (older name, used by the images e2e). */
  get registryUrl(): string {
    return this.registryAddress;
  }
  private readonly processes = new Map<string, ManagedProcess>();
  private db: Awaited<ReturnType<typeof createTestDatabase>> | null = null;
  private nats: Awaited<ReturnType<typeof startNats>> | null = null;
  private pg: Client | null = null;
  private readonly logDir: string;

  constructor(private readonly options: SystemOptions) {
    this.nodeId = `e2e-${randomBytes(4).toString('hex')}`;
    this.secondNodeId = `${this.nodeId}-b`;
    this.extraNodeIds = Array.from({ length: options.extraAgents ?? 0 }, (_, i) => `${this.nodeId}-x${i + 1}`);
    this.logDir = path.join(ROOT, '.gureum-test', 'logs', `${options.label}-${this.nodeId}`);
  }

  /** `apiEnv`: extra environment of the api process (e.g. rate limits). */
  async start(apiEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    this.db = await createTestDatabase(this.options.label, this.options.pgAdminUrl);
    this.nats = await startNats({ agents: [this.nodeId, ...this.extraNodeIds], ...(this.options.secondAgent ? { enrolment: true } : {}) });
    this.pg = await this.connectPg();

    for (const app of ['api', 'scheduler', ...(this.options.metering ? ['metering'] : []), ...(this.options.registry ? ['registry'] : []), ...(this.options.billing ? ['billing'] : [])]) {
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
    if (this.options.registry) await this.startRegistry();
    await this.spawn('scheduler', ['apps/scheduler/dist/main.js'], {
      ...this.controlEnv(),
      GUREUM_HEARTBEAT_INTERVAL_MS: String(this.heartbeatMs),
      ...this.enrolmentEnv(),
      ...this.options.schedulerEnv,
      ...(this.registryAddress ? { GUREUM_REGISTRY_ADDRESS: this.registryAddress } : {}),
    });
    if (this.options.metering) await this.spawn('metering', ['apps/metering/dist/main.js'], { ...this.controlEnv(), ...this.options.metering.env });
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

  /** `index` 0 is the main agent; 1.. are the extra agents (`extraNodeIds[index - 1]`). */
  async startAgent(index = 0): Promise<ManagedProcess> {
    const nodeId = index === 0 ? this.nodeId : this.extraNodeIds[index - 1]!;
    const creds = this.requireNats().agent(nodeId);
    return this.spawn(index === 0 ? 'agent' : `agent-x${index}`, ['apps/agent/dist/main.js', '--driver', this.options.agent?.drivers ?? 'docker'], {
      GUREUM_NATS_URL: this.requireNats().url,
      GUREUM_NATS_USER: creds.user,
      GUREUM_NATS_PASSWORD: creds.password,
      GUREUM_AGENT_NODE_ID: nodeId,
      GUREUM_AGENT_STATE_DIR: this.agentStateDir(index),
      GUREUM_AGENT_HEARTBEAT_MS: String(this.heartbeatMs),
      GUREUM_AGENT_RECONCILE_MS: '2000',
      GUREUM_AGENT_STOP_TIMEOUT_S: '2',
      GUREUM_AGENT_CPU_MILLIS: String(this.options.agentCapacity.cpuMillis),
      GUREUM_AGENT_MEMORY_MIB: String(this.options.agentCapacity.memoryMiB),
      GUREUM_AGENT_PIDS: String(this.options.agentCapacity.pids),
      GUREUM_LOG_LEVEL: 'debug',
      ...(this.options.metering ? { GUREUM_AGENT_SAMPLE_MS: String(this.options.metering.sampleMs) } : {}),
      // Last: a test's own settings (e.g. a shorter reconcile interval) win over the defaults above.
      ...this.options.agent?.env,
    });
  }

  /**
   * The second agent: no NATS user of its own, only a join token an operator issued through
   * the api; it enrols once and keeps its NKey in its state dir.
   */
  async startSecondAgent(operatorKey: string): Promise<ManagedProcess> {
    const nats = this.requireNats();
    if (!nats.enrolment) throw new Error('startSecondAgent needs SystemOptions.secondAgent');
    const res = await fetch(`${this.apiUrl}/v1/admin/join-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ nodeId: this.secondNodeId, ttlSeconds: 600 }),
    });
    const body = (await res.json()) as { token?: string };
    if (res.status !== 201 || !body.token) throw new Error(`join token: ${res.status} ${JSON.stringify(body)}`);
    return this.spawn('agent-b', ['apps/agent/dist/main.js', '--driver', 'docker'], {
      ...this.agentEnv(this.secondNodeId, 'agent-b-state'),
      GUREUM_JOIN_TOKEN: body.token,
      GUREUM_NATS_ENROL_USER: nats.enrolment.user.user,
      GUREUM_NATS_ENROL_PASSWORD: nats.enrolment.user.password,
    });
  }

  /** The state dir of agent `index` (0: the main agent, 1..: the extra agents), e.g. its VMs under `vms/`. */
  agentStateDir(index = 0): string {
    return path.join(this.logDir, index === 0 ? 'agent-state' : `agent-x${index}-state`);
  }

  /** Where the second agent keeps its state (its enrolled credentials among it). */
  secondAgentStateDir(): string {
    return path.join(this.logDir, 'agent-b-state');
  }

  private agentEnv(nodeId: string, stateDir: string): NodeJS.ProcessEnv {
    return {
      GUREUM_NATS_URL: this.requireNats().url,
      GUREUM_AGENT_NODE_ID: nodeId,
      GUREUM_AGENT_STATE_DIR: path.join(this.logDir, stateDir),
      GUREUM_AGENT_HEARTBEAT_MS: String(this.heartbeatMs),
      GUREUM_AGENT_RECONCILE_MS: '2000',
      GUREUM_AGENT_STOP_TIMEOUT_S: '2',
      GUREUM_AGENT_CPU_MILLIS: String(this.options.agentCapacity.cpuMillis),
      GUREUM_AGENT_MEMORY_MIB: String(this.options.agentCapacity.memoryMiB),
      GUREUM_AGENT_PIDS: String(this.options.agentCapacity.pids),
      GUREUM_LOG_LEVEL: 'debug',
    };
  }

  private enrolmentEnv(): NodeJS.ProcessEnv {
    const enrolment = this.requireNats().enrolment;
    if (!enrolment) return {};
    return {
      GUREUM_NATS_AUTH_BASE_FILE: enrolment.baseFile,
      GUREUM_NATS_AUTH_FILE: enrolment.authFile,
      GUREUM_NATS_PID_FILE: enrolment.pidFile,
      GUREUM_NATS_MONITOR_URL: enrolment.monitorUrl,
    };
  }

  private get heartbeatMs(): number {
    return this.options.heartbeatMs ?? 1000;
  }

  /**
   * Freezes a process (SIGSTOP), as a stalled machine or a debugger would: it holds its
   * connections but answers nothing. `thaw` lets it run on (SIGCONT).
   */
  freeze(name: SystemProcessName): void {
    process.kill(this.process(name).pid, 'SIGSTOP');
  }

  thaw(name: SystemProcessName): void {
    process.kill(this.process(name).pid, 'SIGCONT');
  }

  process(name: SystemProcessName): ManagedProcess {
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

  /** A platform operator who logs in with a password (the console's login); the generated password is returned. */
  async createOperatorUser(login: string): Promise<{ login: string; password: string }> {
    const { stdout } = await exec('node', [path.join(ROOT, 'apps/api/dist/cli.js'), 'create-operator-user', login, '--json'], { env: this.controlEnv(), cwd: ROOT });
    const parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { login?: string; password?: string };
    if (!parsed.password) throw new Error(`create-operator-user printed no password: ${stdout}`);
    return { login: parsed.login ?? login, password: parsed.password };
  }

  /** A fault: nats-server away for `downMs` (store kept), then back on the same port. */
  async restartNats(downMs: number): Promise<void> {
    await this.requireNats().restart(downMs);
  }

  /** nats-server's monitoring endpoint, e.g. `${natsMonitorUrl()}/jsz?consumers=true`. */
  natsMonitorUrl(): string {
    return this.requireNats().monitorUrl;
  }

  /** NATS as the control plane connects to it (the registry would use the same). */
  /** The NATS credentials the agent of `nodeId` (the main or an extra one) connects with: what a compromised node holds. */
  agentNatsCredentials(nodeId: string): { url: string; user: string; password: string; inboxPrefix: string } {
    const nats = this.requireNats();
    const creds = nats.agent(nodeId);
    return { url: nats.url, user: creds.user, password: creds.password, inboxPrefix: creds.inboxPrefix };
  }

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
    if (!this.db) throw new Error('system not started');
    // A test may have taken the database server away and back (fault tests): connect again.
    if (!this.pg || this.pgBroken) {
      await this.pg?.end().catch(() => undefined);
      this.pg = await this.connectPg();
    }
    const result = await this.pg.query(sql, params);
    return { rows: result.rows as T[] };
  }

  private pgBroken = false;

  private async connectPg(): Promise<Client> {
    if (!this.db) throw new Error('system not started');
    const client = new Client({ connectionString: this.db.url });
    this.pgBroken = false;
    // Without a listener, a server shutdown would crash the test process.
    client.on('error', () => {
      this.pgBroken = true;
    });
    await client.connect();
    return client;
  }

  /** Containers this run's agent created (by its node label). */
  async containerIds(filters: Record<string, string> = {}, nodeId: string = this.nodeId): Promise<string[]> {
    const args = ['ps', '-a', '-q', '--no-trunc', '--filter', `label=io.gureum.node=${nodeId}`];
    for (const [key, value] of Object.entries(filters)) args.push('--filter', `label=${key}=${value}`);
    const { stdout } = await exec('docker', args);
    return stdout.split('\n').filter(Boolean);
  }

  async stop(): Promise<void> {
    for (const name of ['agent', 'agent-b', ...this.extraNodeIds.map((_, i) => `agent-x${i + 1}`), 'api', 'scheduler', 'metering', 'registry', 'billing']) {
      await this.processes.get(name)?.stop().catch(() => undefined);
    }
    const leftovers = [
      ...(await this.containerIds().catch(() => [])),
      ...(this.options.secondAgent ? await this.containerIds({}, this.secondNodeId).catch(() => []) : []),
    ];
    if (leftovers.length > 0) await exec('docker', ['rm', '-f', ...leftovers]).catch(() => undefined);
    // Only this system's tenants' networks: the engine is shared with other runs, and Docker
    // removes a network whose containers are merely stopped.
    const ours = new Set((await this.query<{ id: string }>('SELECT id FROM api.tenants').catch(() => ({ rows: [] }))).rows.map((row) => row.id));
    const { stdout } = await exec('docker', ['network', 'ls', '--filter', 'label=io.gureum.managed=true', '--format', '{{.ID}} {{.Label "io.gureum.tenant"}}']).catch(() => ({ stdout: '' }));
    for (const line of stdout.split('\n').filter(Boolean)) {
      const [network, tenantId] = line.split(' ');
      if (network && tenantId && ours.has(tenantId)) await exec('docker', ['network', 'rm', network]).catch(() => undefined);
    }
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

  private async startRegistry(): Promise<void> {
    const port = await freePort();
    this.registryAddress = `127.0.0.1:${port}`;
    const storageDir = path.join(this.logDir, 'registry-storage');
    await mkdir(storageDir, { recursive: true });
    await this.spawn('registry', ['apps/registry/dist/main.js'], {
      ...this.controlEnv(),
      GUREUM_REGISTRY_HOST: '127.0.0.1',
      GUREUM_REGISTRY_PORT: String(port),
      GUREUM_REGISTRY_STORAGE_DIR: storageDir,
      GUREUM_REGISTRY_TOKEN_SECRET: randomBytes(32).toString('hex'),
    });
    await waitFor(
      async () => {
        const res = await fetch(`http://${this.registryAddress}/v2/`).catch(() => null);
        return res?.status === 401 ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'registry /v2/' },
    );
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
