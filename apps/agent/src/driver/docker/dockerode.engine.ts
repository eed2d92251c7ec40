import { Readable } from 'node:stream';
import Docker from 'dockerode';
import { rfc3339ToNs } from '@gureum/contracts';
import { stripReservedLabels } from '../../builds/image-archive';

import {
  EngineError,
  type ContainerCreateRequest,
  type ContainerRecord,
  type ContainerStatus,
  type DockerEngine,
  type EngineInfo,
  type EngineLogEntry,
  type ImageBuildRequest,
  type NetworkCreateRequest,
  type NetworkRecord,
  type RegistryCredentials,
} from './docker-engine';

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

export interface DockerodeEngineOptions {
  /** default /var/run/docker.sock */
  socketPath?: string;
}

/**
 * DockerEngine over dockerode. No API `version` is set: requests then go to unversioned paths
 * and the engine answers with its own API version (1.41 on Docker 20.10); forcing a newer one
 * makes an older engine refuse every call.
 */
export class DockerodeEngine implements DockerEngine {
  private readonly docker: Docker;

  constructor(options: DockerodeEngineOptions = {}) {
    this.docker = new Docker({ socketPath: options.socketPath ?? '/var/run/docker.sock' });
  }

  async ping(): Promise<void> {
    await call('ping', () => this.docker.ping());
  }

  async info(): Promise<EngineInfo> {
    // dockerode types info() as `any`.
    const info = (await call('info', () => this.docker.info())) as {
      ServerVersion?: string;
      NCPU?: number;
      MemTotal?: number;
      CgroupVersion?: string;
      CgroupDriver?: string;
      SecurityOptions?: string[];
    };
    return {
      serverVersion: info.ServerVersion ?? 'unknown',
      ncpu: info.NCPU ?? 0,
      memTotalBytes: info.MemTotal ?? 0,
      cgroupVersion: info.CgroupVersion ?? 'unknown',
      cgroupDriver: info.CgroupDriver ?? 'unknown',
      usernsRemap: (info.SecurityOptions ?? []).some((option) => option.startsWith('name=userns')),
    };
  }

  async listImageTags(): Promise<string[]> {
    const images = await call('list images', () => this.docker.listImages());
    return images.flatMap((image) => image.RepoTags ?? []).filter((tag) => tag !== '<none>:<none>');
  }

  async imageExists(reference: string): Promise<boolean> {
    return (await orNullWhenMissing(() => call(`inspect image ${reference}`, () => this.docker.getImage(reference).inspect()))) !== null;
  }

  async pullImage(reference: string, auth: RegistryCredentials | null): Promise<void> {
    const authconfig = auth ? { serveraddress: auth.serverAddress, registrytoken: auth.registryToken } : undefined;
    const stream = await call(`pull ${reference}`, () => this.docker.pull(reference, authconfig ? { authconfig } : {}) as Promise<NodeJS.ReadableStream>);
    await this.followStream(`pull ${reference}`, stream);
  }

  async commitContainer(id: string, repository: string, tag: string): Promise<string> {
    const result = (await call(`commit container ${id}`, () => this.docker.getContainer(id).commit({ repo: repository, tag, pause: true }))) as { Id?: string };
    if (!result.Id) throw new EngineError('failure', `docker commit container ${id}: no image id in the answer`);
    // Commit copies the container's labels into the image, and ours (`io.gureum.*`) must never
    // travel in an image (a container made from it would carry them): rewrite them out.
    const info = await call(`inspect image ${result.Id}`, () => this.docker.getImage(result.Id as string).inspect());
    if (!Object.keys(info.Config?.Labels ?? {}).some((key) => key.toLowerCase().startsWith('io.gureum.'))) return result.Id;
    const stripped = stripReservedLabels(await this.saveImage(`${repository}:${tag}`));
    await this.loadImage(stripped.archive);
    await call(`remove image ${result.Id}`, () => this.docker.getImage(result.Id as string).remove({ noprune: false })).catch(() => undefined);
    const clean = await call(`inspect image ${repository}:${tag}`, () => this.docker.getImage(`${repository}:${tag}`).inspect());
    return clean.Id;
  }

  /** `docker save` of one image reference, as a tar in memory. */
  async saveImage(reference: string): Promise<Buffer> {
    const stream = (await call(`save ${reference}`, () => this.docker.getImage(reference).get())) as NodeJS.ReadableStream;
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /** `docker load` of a `docker save` archive (tags included). */
  async loadImage(archive: Buffer): Promise<void> {
    const stream = (await call('load image', () => this.docker.loadImage(Readable.from([archive]), { quiet: true }))) as NodeJS.ReadableStream;
    await this.followStream('load image', stream);
  }

  async buildImage(context: Buffer, request: ImageBuildRequest, onOutput: (text: string) => void): Promise<void> {
    const what = `build ${request.tag}`;
    const memory = request.memoryMiB * 1024 * 1024;
    const options = {
      t: request.tag,
      labels: request.labels,
      memory,
      // No swap beyond the memory limit, as for workloads.
      memswap: memory,
      cpuperiod: 100_000,
      cpuquota: Math.max(1000, Math.round(request.cpuMillis * 100)),
      // RUN steps get no network: builds only reach what is in the context and the base image.
      networkmode: 'none',
      rm: true,
      forcerm: true,
    };
    const stream = (await call(what, () => this.docker.buildImage(Readable.from([context]), options))) as NodeJS.ReadableStream;
    await this.followStream(what, stream, (line) => {
      if (typeof line.stream === 'string') onOutput(line.stream);
      else if (typeof line.status === 'string') onOutput(`${line.status}\n`);
      else if (typeof line.error === 'string') onOutput(`ERROR: ${line.error}\n`);
    });
  }

  async pushImage(repository: string, tag: string, auth: RegistryCredentials): Promise<string> {
    const what = `push ${repository}:${tag}`;
    const authconfig = { serveraddress: auth.serverAddress, registrytoken: auth.registryToken };
    const stream = (await call(what, () => this.docker.getImage(repository).push({ tag, authconfig }))) as NodeJS.ReadableStream;
    const lines = await this.followStream(what, stream);
    const digest = lines.map((line) => line.aux?.Digest).find((value): value is string => typeof value === 'string');
    if (!digest) throw new EngineError('failure', `docker ${what}: the engine reported no digest`);
    return digest;
  }

  /**
   * Docker streams progress as JSON lines and reports a failure *inside* the stream (HTTP 200
   * with an `error` line), so the stream is read to the end and its error, if any, thrown.
   */
  private followStream(what: string, stream: NodeJS.ReadableStream, onLine?: (line: StreamLine) => void): Promise<StreamLine[]> {
    return new Promise((resolve, reject) => {
      let failure: string | null = null;
      this.docker.modem.followProgress(
        stream,
        (error: unknown, output: StreamLine[]) => {
          if (error) reject(translate(what, error));
          else if (failure !== null) reject(new EngineError('failure', `docker ${what}: ${failure}`));
          else resolve(output);
        },
        (line: StreamLine) => {
          if (typeof line.error === 'string') failure ??= line.errorDetail?.message ?? line.error;
          onLine?.(line);
        },
      );
    });
  }

  async inspectContainer(idOrName: string): Promise<ContainerRecord | null> {
    const info = await orNullWhenMissing(() => call(`inspect container ${idOrName}`, () => this.docker.getContainer(idOrName).inspect()));
    if (info === null) return null;
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      labels: info.Config.Labels ?? {},
      status: info.State.Status as ContainerStatus,
      exitCode: info.State.ExitCode,
      oomKilled: info.State.OOMKilled,
      pid: info.State.Pid,
      startedAt: info.State.StartedAt,
      finishedAt: info.State.FinishedAt,
    };
  }

  async listContainerIds(labels: string[]): Promise<string[]> {
    const containers = await call('list containers', () => this.docker.listContainers({ all: true, filters: { label: labels } }));
    return containers.map((container) => container.Id);
  }

  async createContainer(request: ContainerCreateRequest): Promise<string> {
    const container = await call(`create container ${request.name}`, () => this.docker.createContainer(request));
    return container.id;
  }

  async startContainer(id: string): Promise<void> {
    await call(`start container ${id}`, () => this.docker.getContainer(id).start().catch(unlessNotModified));
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await call(`stop container ${id}`, () => this.docker.getContainer(id).stop({ t: timeoutSeconds }).catch(unlessNotModified));
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await call(`remove container ${id}`, () => this.docker.getContainer(id).remove({ force: true, v: true }));
    } catch (error) {
      // 409 here means a removal is already in progress: the container is going away anyway.
      if (error instanceof EngineError && (error.kind === 'not_found' || error.kind === 'conflict')) return;
      throw error;
    }
  }

  async waitContainer(id: string): Promise<void> {
    await call(`wait for container ${id}`, () => this.docker.getContainer(id).wait({ condition: 'not-running' }));
  }

  async containerLogs(id: string, options: { sinceNs?: bigint; tail?: number }): Promise<EngineLogEntry[]> {
    const since = options.sinceNs === undefined ? undefined : nsToDockerSince(options.sinceNs);
    const raw = await call(`read the logs of container ${id}`, () =>
      this.docker.getContainer(id).logs({
        stdout: true,
        stderr: true,
        timestamps: true,
        follow: false,
        // dockerode types `since` as a number; the engine takes `seconds.nanoseconds`.
        ...(since !== undefined ? { since: since as unknown as number } : {}),
        ...(options.tail !== undefined ? { tail: options.tail } : {}),
      }),
    );
    return demuxLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(raw as unknown as string, 'binary'));
  }

  async inspectNetwork(name: string): Promise<NetworkRecord | null> {
    // dockerode types network inspect() as `any`.
    const info = (await orNullWhenMissing(() => call(`inspect network ${name}`, () => this.docker.getNetwork(name).inspect()))) as {
      Id: string;
      Name: string;
      Labels?: Record<string, string> | null;
    } | null;
    return info === null ? null : { id: info.Id, name: info.Name, labels: info.Labels ?? {} };
  }

  async createNetwork(request: NetworkCreateRequest): Promise<void> {
    await call(`create network ${request.Name}`, () => this.docker.createNetwork(request));
  }

  async listNetworks(labels: string[]): Promise<NetworkRecord[]> {
    const networks = await call('list networks', () => this.docker.listNetworks({ filters: { label: labels } }));
    return networks.map((network) => ({ id: network.Id, name: network.Name, labels: network.Labels ?? {} }));
  }

  async listNetworkContainerIds(name: string): Promise<string[]> {
    // The `network` filter also matches created and exited containers, which still name it.
    const containers = await call(`list containers of network ${name}`, () => this.docker.listContainers({ all: true, filters: { network: [name] } }));
    return containers.map((container) => container.Id);
  }

  async removeNetwork(name: string): Promise<void> {
    try {
      await call(`remove network ${name}`, () => this.docker.getNetwork(name).remove());
    } catch (error) {
      if (error instanceof EngineError && error.kind === 'not_found') return;
      // Docker answers 403 "has active endpoints" for a network in use.
      if (error instanceof EngineError && /active endpoints|in use/i.test(error.message)) throw new EngineError('conflict', error.message, { cause: error });
      throw error;
    }
  }
}

/** One JSON line of a pull/push/build progress stream. */
interface StreamLine {
  status?: string;
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string; Tag?: string; Size?: number };
}

/** dockerode rejects with `statusCode` + `json` for HTTP answers and an errno `code` for socket failures. */
/** Nanoseconds since the epoch as the engine's `since`: `seconds.nanoseconds`. */
export function nsToDockerSince(ns: bigint): string {
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/**
 * The engine's multiplexed log stream (a container without a TTY): frames of an 8-byte header
 * (stream 1 = stdout, 2 = stderr; a big-endian length) and a payload that starts with the
 * engine's timestamp and a space. A truncated last frame is dropped.
 */
export function demuxLogs(raw: Buffer): EngineLogEntry[] {
  const entries: EngineLogEntry[] = [];
  let at = 0;
  while (at + 8 <= raw.length) {
    const kind = raw[at];
    const length = raw.readUInt32BE(at + 4);
    const end = at + 8 + length;
    if (end > raw.length) break;
    const payload = raw.subarray(at + 8, end);
    at = end;
    if (kind !== 1 && kind !== 2) continue;
    const space = payload.indexOf(0x20);
    const time = (space < 0 ? payload : payload.subarray(0, space)).toString('latin1');
    const timeNs = rfc3339ToNs(time);
    if (timeNs === null) continue;
    entries.push({ stream: kind === 1 ? 'stdout' : 'stderr', time, timeNs, data: Buffer.from(space < 0 ? Buffer.alloc(0) : payload.subarray(space + 1)) });
  }
  return entries;
}

async function call<T>(what: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw translate(what, error);
  }
}

function translate(what: string, error: unknown): EngineError {
  const details = (typeof error === 'object' && error !== null ? error : {}) as {
    statusCode?: unknown;
    code?: unknown;
    json?: { message?: unknown } | null;
    message?: unknown;
  };
  const reason = typeof details.json?.message === 'string' ? details.json.message : String(details.message ?? error);
  const message = `docker ${what}: ${reason}`;
  if (details.statusCode === 404) return new EngineError('not_found', message, { cause: error });
  if (details.statusCode === 409) return new EngineError('conflict', message, { cause: error });
  if (typeof details.code === 'string' && CONNECTION_ERRORS.has(details.code)) {
    return new EngineError('unavailable', message, { cause: error });
  }
  return new EngineError('failure', message, { cause: error });
}

/** Docker answers 304 Not Modified to starting a running or stopping a stopped container. */
function unlessNotModified(error: unknown): void {
  if (typeof error === 'object' && error !== null && 'statusCode' in error && error.statusCode === 304) return;
  throw error;
}

async function orNullWhenMissing<T>(operation: () => Promise<T>): Promise<T | null> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof EngineError && error.kind === 'not_found') return null;
    throw error;
  }
}
