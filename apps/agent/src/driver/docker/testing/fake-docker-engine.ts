import {
  EngineError,
  type ContainerCreateRequest,
  type ContainerRecord,
  type DockerEngine,
  type EngineInfo,
  type EngineLogEntry,
  type ImageBuildRequest,
  type NetworkCreateRequest,
  type NetworkRecord,
  type RegistryCredentials,
} from '../docker-engine';

const ZERO_TIME = '0001-01-01T00:00:00Z';

interface FakeContainer {
  record: ContainerRecord;
  request: ContainerCreateRequest | null;
  /** For containers added outside createContainer. */
  network?: string;
}

/** An in-memory Docker engine with the semantics DockerEngine promises, plus test controls. */
export class FakeDockerEngine implements DockerEngine {
  readonly images = new Set<string>();
  readonly containers = new Map<string, FakeContainer>();
  readonly networks = new Map<string, NetworkRecord & { request: NetworkCreateRequest | null }>();
  readonly calls: string[] = [];
  engineInfo: EngineInfo = { serverVersion: '20.10.24', ncpu: 2, memTotalBytes: 4 * 1024 * 1024 * 1024, cgroupVersion: '1', cgroupDriver: 'cgroupfs', usernsRemap: true };
  /** What a registry would serve: reference → the token it wants (null: anonymous pulls work). */
  readonly registryImages = new Map<string, string | null>();
  /** When set, every call fails as if the socket were closed. */
  unavailable = false;
  /** Runs once just before the next createContainer / createNetwork, to stage a race. */
  beforeNextCreate: (() => void) | undefined;
  private nextId = 1;
  private nextPid = 5000;
  private readonly waiters = new Map<string, Array<() => void>>();

  async ping(): Promise<void> {
    this.enter('ping');
  }

  async info(): Promise<EngineInfo> {
    this.enter('info');
    return { ...this.engineInfo };
  }

  async listImageTags(): Promise<string[]> {
    this.enter('listImageTags');
    return [...this.images];
  }

  async imageExists(reference: string): Promise<boolean> {
    this.enter(`imageExists ${reference}`);
    return this.images.has(reference);
  }

  async pullImage(reference: string, auth: RegistryCredentials | null): Promise<void> {
    this.enter(`pullImage ${reference}`);
    if (!this.registryImages.has(reference)) throw new EngineError('failure', `docker pull ${reference}: manifest unknown`);
    const wanted = this.registryImages.get(reference);
    if (wanted !== null && auth?.registryToken !== wanted) throw new EngineError('failure', `docker pull ${reference}: unauthorized: authentication required`);
    this.images.add(reference);
  }

  /** Pushed images: `repository:tag` → digest. */
  readonly pushed = new Map<string, string>();
  /** When set, the next push fails with this registry message. */
  pushFailure: string | undefined;

  async commitContainer(id: string, repository: string, tag: string): Promise<string> {
    this.enter(`commitContainer ${id} ${repository}:${tag}`);
    if (!this.find(id)) throw new EngineError('not_found', `No such container: ${id}`);
    this.images.add(`${repository}:${tag}`);
    return `sha256:${'c'.repeat(64)}`;
  }

  /** Builds seen, with their context sizes; `buildFailure` makes the next build fail. */
  readonly builds: Array<{ request: ImageBuildRequest; contextBytes: number }> = [];
  buildFailure: string | undefined;

  async buildImage(context: Buffer, request: ImageBuildRequest, onOutput: (text: string) => void): Promise<void> {
    this.enter(`buildImage ${request.tag}`);
    this.builds.push({ request: structuredClone(request), contextBytes: context.length });
    onOutput('Step 1/1 : FROM base\n');
    if (this.buildFailure !== undefined) throw new EngineError('failure', `docker build ${request.tag}: ${this.buildFailure}`);
    this.images.add(request.tag);
  }

  async pushImage(repository: string, tag: string, auth: RegistryCredentials): Promise<string> {
    this.enter(`pushImage ${repository}:${tag} ${auth.serverAddress}`);
    if (!this.images.has(`${repository}:${tag}`)) throw new EngineError('not_found', `An image does not exist locally with the tag: ${repository}`);
    if (this.pushFailure !== undefined) throw new EngineError('failure', `docker push ${repository}:${tag}: ${this.pushFailure}`);
    const digest = `sha256:${'d'.repeat(64)}`;
    this.pushed.set(`${repository}:${tag}`, digest);
    return digest;
  }

  async inspectContainer(idOrName: string): Promise<ContainerRecord | null> {
    this.enter(`inspectContainer ${idOrName}`);
    const found = this.find(idOrName);
    return found ? structuredClone(found.record) : null;
  }

  async listContainerIds(labels: string[]): Promise<string[]> {
    this.enter(`listContainerIds ${labels.join(',')}`);
    return [...this.containers.values()]
      .filter(({ record }) => labels.every((pair) => {
        const [key, value] = splitLabel(pair);
        return record.labels[key] === value;
      }))
      .map(({ record }) => record.id);
  }

  async createContainer(request: ContainerCreateRequest): Promise<string> {
    this.enter(`createContainer ${request.name}`);
    this.runBeforeCreate();
    if (!this.images.has(request.Image)) throw new EngineError('not_found', `No such image: ${request.Image}`);
    if (!this.networks.has(request.HostConfig.NetworkMode)) throw new EngineError('not_found', `network ${request.HostConfig.NetworkMode} not found`);
    if (this.find(request.name)) throw new EngineError('conflict', `name ${request.name} is already in use`);
    const id = this.newId();
    this.containers.set(id, { record: this.newRecord(id, request.name, request.Labels), request: structuredClone(request) });
    return id;
  }

  async startContainer(id: string): Promise<void> {
    this.enter(`startContainer ${id}`);
    const container = this.require(id);
    if (container.record.status === 'running') return;
    const network = this.networkOf(container);
    if (network !== undefined && !this.networks.has(network)) throw new EngineError('not_found', `network ${network} not found`);
    Object.assign(container.record, { status: 'running', pid: this.nextPid++, exitCode: 0, oomKilled: false, startedAt: new Date().toISOString() });
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    this.enter(`stopContainer ${id} ${timeoutSeconds}`);
    const container = this.require(id);
    if (container.record.status !== 'running' && container.record.status !== 'paused') return;
    this.exit(id, 143);
  }

  async removeContainer(id: string): Promise<void> {
    this.enter(`removeContainer ${id}`);
    const container = this.find(id);
    if (!container) return;
    this.containers.delete(container.record.id);
    this.notify(container.record.id);
  }

  async waitContainer(id: string): Promise<void> {
    this.enter(`waitContainer ${id}`);
    const container = this.require(id);
    if (container.record.status !== 'running' && container.record.status !== 'paused') return;
    await new Promise<void>((resolve) => {
      const list = this.waiters.get(container.record.id) ?? [];
      list.push(resolve);
      this.waiters.set(container.record.id, list);
    });
  }

  /** What each container wrote, by id (`write` adds to it). */
  private readonly logs = new Map<string, EngineLogEntry[]>();
  private lastLogNs = 1_800_000_000_000_000_000n;

  async containerLogs(id: string, options: { sinceNs?: bigint; tail?: number }): Promise<EngineLogEntry[]> {
    this.enter(`containerLogs ${id}`);
    const container = this.require(id);
    let entries = this.logs.get(container.record.id) ?? [];
    if (options.tail !== undefined) entries = options.tail === 0 ? [] : entries.slice(-options.tail);
    const since = options.sinceNs;
    if (since !== undefined) entries = entries.filter((entry) => entry.timeNs >= since);
    return entries.map((entry) => ({ ...entry, data: Buffer.from(entry.data) }));
  }

  /** Test control: the container prints `text` on `stream`, stamped `sameTimeAsLast` with the previous line's time. */
  write(idOrName: string, stream: 'stdout' | 'stderr', text: string, options: { sameTimeAsLast?: boolean } = {}): void {
    const container = this.require(idOrName);
    if (!options.sameTimeAsLast) this.lastLogNs += 1_000n;
    const seconds = Number(this.lastLogNs / 1_000_000_000n);
    const fraction = (this.lastLogNs % 1_000_000_000n).toString().padStart(9, '0');
    const time = `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
    const list = this.logs.get(container.record.id) ?? [];
    list.push({ stream, time, timeNs: this.lastLogNs, data: Buffer.from(text) });
    this.logs.set(container.record.id, list);
  }

  async inspectNetwork(name: string): Promise<NetworkRecord | null> {
    this.enter(`inspectNetwork ${name}`);
    const network = this.networks.get(name);
    return network ? { id: network.id, name: network.name, labels: { ...network.labels } } : null;
  }

  async createNetwork(request: NetworkCreateRequest): Promise<void> {
    this.enter(`createNetwork ${request.Name}`);
    this.runBeforeCreate();
    if (this.networks.has(request.Name)) throw new EngineError('conflict', `network with name ${request.Name} already exists`);
    this.networks.set(request.Name, { id: this.newId(), name: request.Name, labels: { ...request.Labels }, request: structuredClone(request) });
  }

  async listNetworks(labels: string[]): Promise<NetworkRecord[]> {
    this.enter(`listNetworks ${labels.join(',')}`);
    return [...this.networks.values()]
      .filter((network) => labels.every((pair) => {
        const [key, value] = splitLabel(pair);
        return network.labels[key] === value;
      }))
      .map(({ id, name, labels: own }) => ({ id, name, labels: { ...own } }));
  }

  async listNetworkContainerIds(name: string): Promise<string[]> {
    this.enter(`listNetworkContainerIds ${name}`);
    return [...this.containers.values()].filter((container) => this.networkOf(container) === name).map(({ record }) => record.id);
  }

  async removeNetwork(name: string): Promise<void> {
    this.enter(`removeNetwork ${name}`);
    if (!this.networks.has(name)) return;
    if ([...this.containers.values()].some((container) => this.networkOf(container) === name && container.record.status === 'running')) {
      throw new EngineError('conflict', `error while removing network: network ${name} has active endpoints`);
    }
    this.networks.delete(name);
  }

  // ---- test controls ----

  /** The task's process ends, as if it exited on its own (or was OOM-killed). */
  exit(idOrName: string, exitCode: number, options: { oomKilled?: boolean } = {}): void {
    const container = this.require(idOrName);
    Object.assign(container.record, {
      status: 'exited',
      pid: 0,
      exitCode,
      oomKilled: options.oomKilled ?? false,
      finishedAt: new Date().toISOString(),
    });
    this.notify(container.record.id);
  }

  /** A container that someone else (or an earlier agent) made, outside the driver. */
  addContainer(name: string, labels: Record<string, string>, status: ContainerRecord['status'] = 'exited'): string {
    const id = this.newId();
    this.containers.set(id, { record: { ...this.newRecord(id, name, labels), status }, request: null });
    return id;
  }

  addNetwork(name: string, labels: Record<string, string>): void {
    this.networks.set(name, { id: this.newId(), name, labels, request: null });
  }

  requestOf(idOrName: string): ContainerCreateRequest {
    const request = this.require(idOrName).request;
    if (!request) throw new Error(`${idOrName} was not created through createContainer`);
    return request;
  }

  callsStartingWith(prefix: string): string[] {
    return this.calls.filter((call) => call.startsWith(prefix));
  }

  private enter(call: string): void {
    if (this.unavailable) throw new EngineError('unavailable', 'connect ECONNREFUSED /var/run/docker.sock');
    this.calls.push(call);
  }

  private runBeforeCreate(): void {
    const hook = this.beforeNextCreate;
    this.beforeNextCreate = undefined;
    hook?.();
  }

  private networkOf(container: FakeContainer): string | undefined {
    return container.request?.HostConfig.NetworkMode ?? container.network;
  }

  private find(idOrName: string): FakeContainer | undefined {
    return this.containers.get(idOrName) ?? [...this.containers.values()].find((c) => c.record.name === idOrName);
  }

  private require(idOrName: string): FakeContainer {
    const container = this.find(idOrName);
    if (!container) throw new EngineError('not_found', `No such container: ${idOrName}`);
    return container;
  }

  private newId(): string {
    return (this.nextId++).toString(16).padStart(64, '0');
  }

  private newRecord(id: string, name: string, labels: Record<string, string>): ContainerRecord {
    return { id, name, labels: { ...labels }, status: 'created', exitCode: 0, oomKilled: false, pid: 0, startedAt: ZERO_TIME, finishedAt: ZERO_TIME };
  }

  private notify(id: string): void {
    for (const resolve of this.waiters.get(id) ?? []) resolve();
    this.waiters.delete(id);
  }
}

function splitLabel(pair: string): [string, string] {
  const index = pair.indexOf('=');
  return [pair.slice(0, index), pair.slice(index + 1)];
}
