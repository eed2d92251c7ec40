/**
 * The slice of the Docker Engine API the driver uses, in the engine's own JSON vocabulary
 * (so the mapping stays recognisable) but with our own types: dockerode stays behind
 * DockerodeEngine, and unit tests drive the driver with a fake.
 */

export interface ContainerHostConfig {
  CpuPeriod: number;
  CpuQuota: number;
  Memory: number;
  MemorySwap: number;
  PidsLimit: number;
  CapDrop: string[];
  SecurityOpt: string[];
  Privileged: boolean;
  ReadonlyRootfs: boolean;
  /** Mount point → tmpfs options (a writable /tmp for a read-only root filesystem). */
  Tmpfs?: Record<string, string>;
  /** Docker's init (tini) as PID 1: forwards signals, reaps zombies. */
  Init: boolean;
  RestartPolicy: { Name: 'no' };
  NetworkMode: string;
  /** The engine's log driver with a size bound: a tenant's output cannot fill the host's disk. */
  LogConfig: { Type: 'json-file'; Config: { 'max-size': string; 'max-file': string } };
}

export interface ContainerCreateRequest {
  name: string;
  Image: string;
  Cmd?: string[];
  Env: string[];
  Labels: Record<string, string>;
  HostConfig: ContainerHostConfig;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerRecord {
  id: string;
  name: string;
  labels: Record<string, string>;
  status: ContainerStatus;
  exitCode: number;
  oomKilled: boolean;
  /** 0 when not running. */
  pid: number;
  /** RFC 3339; Docker's zero time (0001-01-01T00:00:00Z) when never. */
  startedAt: string;
  finishedAt: string;
}

export interface NetworkCreateRequest {
  Name: string;
  Driver: 'bridge';
  CheckDuplicate: true;
  Labels: Record<string, string>;
}

export interface NetworkRecord {
  id: string;
  name: string;
  labels: Record<string, string>;
}

export interface EngineInfo {
  serverVersion: string;
  ncpu: number;
  memTotalBytes: number;
  cgroupVersion: string;
  cgroupDriver: string;
  /** Whether the engine runs containers in a user namespace (`--userns-remap`): root inside is not root outside. */
  usernsRemap: boolean;
}

export interface DockerEngine {
  ping(): Promise<void>;
  info(): Promise<EngineInfo>;
  /** repo:tag of every local image, without `<none>:<none>`. */
  listImageTags(): Promise<string[]>;
  imageExists(reference: string): Promise<boolean>;
  /**
   * Pulls `reference` from the registry it names, presenting `auth.registryToken` as the
   * bearer token (Docker's `registrytoken`). EngineError `failure` with the registry's
   * message when the pull does not complete.
   */
  pullImage(reference: string, auth: RegistryCredentials | null): Promise<void>;
  /** Saves the container's filesystem changes as image `repository:tag` (pausing it meanwhile); returns the image id. */
  commitContainer(id: string, repository: string, tag: string): Promise<string>;
  /**
   * Builds a Dockerfile context (a tar) into `request.tag` under the given limits, passing
   * every output line to `onOutput`; EngineError `failure` with the builder's message when a
   * step fails.
   */
  buildImage(context: Buffer, request: ImageBuildRequest, onOutput: (text: string) => void): Promise<void>;
  /** Pushes `repository:tag`; returns the manifest digest the registry stored. */
  pushImage(repository: string, tag: string, auth: RegistryCredentials): Promise<string>;
  /** null when no container has this id or name. */
  inspectContainer(idOrName: string): Promise<ContainerRecord | null>;
  /** Ids of all containers (running or not) carrying every `key=value` label. */
  listContainerIds(labels: string[]): Promise<string[]>;
  /** Returns the new id; EngineError `conflict` when the name is taken. */
  createContainer(request: ContainerCreateRequest): Promise<string>;
  /** Succeeds for a container that already runs. */
  startContainer(id: string): Promise<void>;
  /** Succeeds for a container that is not running. */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  /** Force-removes (killing it if it runs); succeeds when it is gone already. */
  removeContainer(id: string): Promise<void>;
  /** Resolves once the container is not running. */
  waitContainer(id: string): Promise<void>;
  /**
   * What the container wrote to stdout and stderr, as the engine keeps it for the container's
   * life, oldest first, each entry with the engine's timestamp. `sinceNs` is inclusive (the
   * engine's rule); `tail` keeps only the last entries.
   */
  containerLogs(id: string, options: { sinceNs?: bigint; tail?: number }): Promise<EngineLogEntry[]>;
  inspectNetwork(name: string): Promise<NetworkRecord | null>;
  /** EngineError `conflict` when a network of that name exists. */
  createNetwork(request: NetworkCreateRequest): Promise<void>;
  /** Networks carrying every `key=value` label. */
  listNetworks(labels: string[]): Promise<NetworkRecord[]>;
  /** Ids of all containers (running or not) attached to the network. */
  listNetworkContainerIds(name: string): Promise<string[]>;
  /** Succeeds when it is gone already; EngineError `conflict` while a container uses it. */
  removeNetwork(name: string): Promise<void>;
}

export interface EngineLogEntry {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as the engine stamped the line. */
  time: string;
  /** Nanoseconds since the epoch of `time`. */
  timeNs: bigint;
  data: Buffer;
}

export interface ImageBuildRequest {
  tag: string;
  cpuMillis: number;
  memoryMiB: number;
  labels: Record<string, string>;
}

/** A short-lived bearer token for one registry (never a password). */
export interface RegistryCredentials {
  serverAddress: string;
  registryToken: string;
}

export type EngineErrorKind = 'not_found' | 'conflict' | 'unavailable' | 'failure';

export class EngineError extends Error {
  constructor(
    readonly kind: EngineErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EngineError';
  }
}
