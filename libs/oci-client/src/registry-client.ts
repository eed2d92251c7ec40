import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { header, sendRequest, type RawResponse, type RequestBody } from './http';

/**
 * How to authenticate to a registry: Basic credentials exchanged at the token realm (user
 * name and password or API key), a bearer token issued beforehand (e.g. an agent's token
 * scoped to one repository), or anonymous (the token realm without credentials: public
 * repositories only).
 */
export type RegistryAuth = { username: string; password: string } | { token: string } | { anonymous: true };

export class OciClientError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'OciClientError';
  }
}

export interface BlobSource {
  /** A file to stream, or bytes in memory. */
  path?: string;
  bytes?: Buffer;
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters. */
export function parseBearerChallenge(value: string | undefined): Record<string, string> | null {
  if (!value || !/^Bearer\s/i.test(value)) return null;
  const params: Record<string, string> = {};
  for (const match of value.slice(7).matchAll(/([a-z_]+)="([^"]*)"/gi)) params[(match[1] as string).toLowerCase()] = match[2] as string;
  return params;
}

export function sha256Of(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** The sha256 digest and size of a file, streamed. */
export async function digestFile(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/**
 * A client of the OCI Distribution API (push and pull of blobs and manifests) that
 * authenticates the Docker way: a request answered 401 with a Bearer challenge is retried
 * with a token from the challenge's realm; tokens are cached per scope. Blob bodies stream
 * both ways and downloads are verified against their digest while they are written.
 */
export class OciRegistryClient {
  private readonly tokens = new Map<string, string>();

  /** `baseUrl` e.g. `http://127.0.0.1:5000`. */
  constructor(
    readonly baseUrl: string,
    private readonly auth: RegistryAuth,
  ) {}

  /** Whether the repository already holds the blob. */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const response = await this.send('HEAD', `/v2/${repository}/blobs/${digest}`, scopeOf(repository, 'pull'));
    await response.discard();
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw new OciClientError(`HEAD blob ${digest} in ${repository}: ${response.status}`, response.status);
  }

  /**
   * Uploads a blob (POST for a session, then one streamed PUT with the digest) unless the
   * repository has it already. The digest is computed first when not given.
   */
  async pushBlob(repository: string, source: BlobSource, known?: { digest: string; size: number }): Promise<{ digest: string; size: number }> {
    const described = known ?? (source.bytes ? { digest: sha256Of(source.bytes), size: source.bytes.length } : await digestFile(requirePath(source)));
    if (await this.hasBlob(repository, described.digest)) return described;
    const started = await this.send('POST', `/v2/${repository}/blobs/uploads/`, scopeOf(repository, 'pull,push'));
    if (started.status !== 202) throw await failure(started, `start upload to ${repository}`);
    await started.discard();
    const location = header(started.headers, 'location');
    if (!location) throw new OciClientError('upload session without Location');
    const url = new URL(location, this.baseUrl);
    url.searchParams.set('digest', described.digest);
    const body: RequestBody = source.bytes ?? { stream: createReadStream(requirePath(source), { highWaterMark: 1024 * 1024 }), length: described.size };
    const done = await this.send('PUT', url.pathname + url.search, scopeOf(repository, 'pull,push'), { body, headers: { 'Content-Type': 'application/octet-stream' } });
    if (done.status !== 201) throw await failure(done, `upload ${described.digest} to ${repository}`);
    await done.discard();
    return described;
  }

  /** PUT of a manifest by tag or digest; returns the digest the registry computed. */
  async pushManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const response = await this.send('PUT', `/v2/${repository}/manifests/${reference}`, scopeOf(repository, 'pull,push'), { body: bytes, headers: { 'Content-Type': mediaType } });
    if (response.status !== 201) throw await failure(response, `push manifest ${repository}:${reference}`);
    await response.discard();
    const digest = header(response.headers, 'docker-content-digest') ?? sha256Of(bytes);
    if (digest !== sha256Of(bytes)) throw new OciClientError(`registry answered digest ${digest} for a manifest whose digest is ${sha256Of(bytes)}`);
    return digest;
  }

  /** GET of a manifest; the bytes are verified against the digest (the reference's, if it is one). */
  async getManifest(repository: string, reference: string, accept: readonly string[]): Promise<{ bytes: Buffer; digest: string; mediaType: string }> {
    const response = await this.send('GET', `/v2/${repository}/manifests/${reference}`, scopeOf(repository, 'pull'), { headers: { Accept: accept.join(', ') } });
    if (response.status !== 200) throw await failure(response, `get manifest ${repository}:${reference}`);
    const bytes = await response.buffer(4 * 1024 * 1024);
    const digest = sha256Of(bytes);
    const expected = reference.startsWith('sha256:') ? reference : header(response.headers, 'docker-content-digest');
    if (expected !== undefined && expected !== digest) throw new OciClientError(`manifest ${repository}:${reference} does not match digest ${expected}`);
    return { bytes, digest, mediaType: (header(response.headers, 'content-type') ?? '').split(';')[0]?.trim() ?? '' };
  }

  /** Streams a blob into `sink`, verifying size and digest on the way; throws (after the sink got the bytes) on a mismatch. */
  async pullBlob(repository: string, digest: string, sink: Writable, expectedSize?: number): Promise<number> {
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new OciClientError(`unsupported digest ${digest}`);
    const response = await this.send('GET', `/v2/${repository}/blobs/${digest}`, scopeOf(repository, 'pull'));
    if (response.status !== 200) throw await failure(response, `get blob ${digest} from ${repository}`);
    const hash = createHash('sha256');
    let size = 0;
    const verify = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        if (expectedSize !== undefined && size > expectedSize) return callback(new OciClientError(`blob ${digest} is larger than ${expectedSize} bytes`));
        callback(null, chunk);
      },
      flush(callback) {
        const actual = `sha256:${hash.digest('hex')}`;
        if (actual !== digest) return callback(new OciClientError(`blob ${digest} arrived with digest ${actual}`));
        if (expectedSize !== undefined && size !== expectedSize) return callback(new OciClientError(`blob ${digest} is ${size} bytes, expected ${expectedSize}`));
        callback();
      },
    });
    await pipeline(response.body, verify, sink);
    return size;
  }

  /**
   * Downloads a blob to `path` (through `path.partial`, renamed only once size and digest
   * are verified); when `path` exists already its content is trusted (callers name it by digest).
   */
  async pullBlobToFile(repository: string, digest: string, path: string, expectedSize?: number): Promise<void> {
    if (await stat(path).then(() => true, () => false)) return;
    const partial = `${path}.partial-${process.pid}-${Date.now()}`;
    const handle = await open(partial, 'w', 0o644);
    try {
      await this.pullBlob(repository, digest, handle.createWriteStream({ highWaterMark: 1024 * 1024 }), expectedSize);
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /** Tags of a repository (first page of up to `n`). */
  async listTags(repository: string, n = 1000): Promise<string[]> {
    const response = await this.send('GET', `/v2/${repository}/tags/list?n=${n}`, scopeOf(repository, 'pull'));
    if (response.status !== 200) throw await failure(response, `list tags of ${repository}`);
    const body = JSON.parse((await response.buffer()).toString('utf8')) as { tags?: string[] | null };
    return body.tags ?? [];
  }

  /**
   * One request with authentication: the cached token for the scope, else none; a 401
   * challenge is answered at the token realm and the request retried once. A streamed body
   * cannot be replayed, so streaming requests get a token first (their scope is known).
   */
  async send(method: string, path: string, scope: string, init: { body?: RequestBody; headers?: Record<string, string> } = {}): Promise<RawResponse> {
    const url = new URL(path, this.baseUrl);
    const replayable = init.body === undefined || Buffer.isBuffer(init.body);
    const authorization = (): Record<string, string> => {
      if ('token' in this.auth) return { Authorization: `Bearer ${this.auth.token}` };
      const token = this.tokens.get(scope);
      return token ? { Authorization: `Bearer ${token}` } : {};
    };
    if (!replayable && !('token' in this.auth) && !this.tokens.has(scope)) await this.authenticate(scope);
    const first = await sendRequest(url, method, { ...(init.headers ?? {}), ...authorization() }, init.body);
    if (first.status !== 401 || 'token' in this.auth || !replayable) return first;
    const challenge = parseBearerChallenge(header(first.headers, 'www-authenticate'));
    await first.discard();
    if (!challenge?.['realm']) throw new OciClientError(`${method} ${path}: 401 without a Bearer challenge`, 401);
    await this.fetchToken(challenge, scope);
    return sendRequest(url, method, { ...(init.headers ?? {}), ...authorization() }, init.body);
  }

  private async authenticate(scope: string): Promise<void> {
    const probe = await sendRequest(new URL('/v2/', this.baseUrl), 'GET', {}, undefined);
    await probe.discard();
    if (probe.status !== 401) return;
    const challenge = parseBearerChallenge(header(probe.headers, 'www-authenticate'));
    if (!challenge?.['realm']) throw new OciClientError('registry answered 401 without a Bearer challenge', 401);
    await this.fetchToken(challenge, scope);
  }

  private async fetchToken(challenge: Record<string, string>, scope: string): Promise<void> {
    const url = new URL(challenge['realm'] as string);
    if (challenge['service']) url.searchParams.set('service', challenge['service']);
    // Ask for what this operation needs; the challenge's scope (if any) names the same thing.
    for (const item of new Set([scope, ...(challenge['scope'] ? challenge['scope'].split(' ') : [])])) url.searchParams.append('scope', item);
    const headers: Record<string, string> = {};
    if ('username' in this.auth) headers['Authorization'] = `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
    const response = await sendRequest(url, 'GET', headers, undefined);
    if (response.status !== 200) throw await failure(response, 'token request');
    const body = JSON.parse((await response.buffer()).toString('utf8')) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new OciClientError('token endpoint answered without a token');
    this.tokens.set(scope, token);
  }
}

/** A Docker token scope for one repository. */
export function scopeOf(repository: string, actions: string): string {
  return `repository:${repository}:${actions}`;
}

function requirePath(source: BlobSource): string {
  if (!source.path) throw new OciClientError('a blob source needs a path or bytes');
  return source.path;
}

async function failure(response: RawResponse, what: string): Promise<OciClientError> {
  let code: string | null = null;
  let message = '';
  try {
    const text = (await response.buffer(64 * 1024)).toString('utf8');
    message = text.slice(0, 500);
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    code = parsed.errors?.[0]?.code ?? null;
    message = parsed.errors?.[0]?.message ?? message;
  } catch {
    // not an OCI error body
  }
  return new OciClientError(`${what}: ${response.status}${code ? ` ${code}` : ''}${message ? ` ${message}` : ''}`, response.status, code);
}


