import { createHash } from 'node:crypto';

export interface OciResponse {
  status: number;
  headers: Headers;
  body: Buffer;
  json<T = unknown>(): T;
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters. */
export function parseChallenge(header: string | null): Record<string, string> | null {
  if (!header || !/^Bearer\s/i.test(header)) return null;
  const params: Record<string, string> = {};
  for (const match of header.slice(7).matchAll(/([a-z_]+)="([^"]*)"/gi)) params[match[1] as string] = match[2] as string;
  return params;
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * A registry client that authenticates the way Docker does: send the request, and on a 401
 * follow the `WWW-Authenticate` challenge to the token realm with Basic credentials, then
 * retry with the bearer token. Written from the token spec, not from the server's code.
 */
export class OciClient {
  constructor(
    readonly baseUrl: string,
    /** Basic credentials; `'anonymous'` follows challenges without any (anonymous tokens); null never authenticates. */
    private readonly credentials: { username: string; password: string } | 'anonymous' | null,
  ) {}

  async request(method: string, path: string, init: { body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<OciResponse> {
    const first = await this.raw(method, path, init);
    if (first.status !== 401 || !this.credentials) return first;
    const challenge = parseChallenge(first.headers.get('www-authenticate'));
    if (!challenge?.['realm']) return first;
    const token = await this.token(challenge['realm'], challenge['service'] ?? '', challenge['scope'] ? [challenge['scope']] : []);
    if (!token) return first;
    return this.raw(method, path, init, token);
  }

  /** GET <realm>?service=…&scope=… with Basic auth; null when refused. */
  async token(realm: string, service: string, scopes: string[]): Promise<string | null> {
    const response = await this.tokenResponse(realm, service, scopes);
    if (response.status !== 200) return null;
    return (response.json<{ token: string }>()).token;
  }

  async tokenResponse(realm: string, service: string, scopes: string[]): Promise<OciResponse> {
    const url = new URL(realm);
    url.searchParams.set('service', service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (this.credentials && this.credentials !== 'anonymous') headers['Authorization'] = `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
    return toResponse(await fetch(url, { headers }));
  }

  async raw(method: string, path: string, init: { body?: Buffer | string; headers?: Record<string, string> }, token?: string): Promise<OciResponse> {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (token) headers['Authorization'] = `Bearer ${token}`;
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(init.body !== undefined ? { body: init.body } : {}),
      redirect: 'manual',
    });
    return toResponse(response);
  }

  /** Pushes a blob with POST + PUT (monolithic); returns its digest. */
  async pushBlob(name: string, bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const started = await this.request('POST', `/v2/${name}/blobs/uploads/`);
    if (started.status !== 202) throw new Error(`POST upload: ${started.status} ${started.body.toString()}`);
    const location = absolutePath(started.headers.get('location') as string);
    const done = await this.request('PUT', withQuery(location, `digest=${digest}`), {
      body: bytes,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    if (done.status !== 201) throw new Error(`PUT upload: ${done.status} ${done.body.toString()}`);
    return digest;
  }

  /** Pushes a manifest; returns the response. */
  pushManifest(name: string, reference: string, manifest: object | Buffer, mediaType: string): Promise<OciResponse> {
    const body = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
    return this.request('PUT', `/v2/${name}/manifests/${reference}`, { body, headers: { 'Content-Type': mediaType } });
  }
}

export function absolutePath(location: string): string {
  return location.startsWith('http') ? new URL(location).pathname + new URL(location).search : location;
}

export function withQuery(path: string, query: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${query}`;
}

async function toResponse(response: Response): Promise<OciResponse> {
  const body = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    headers: response.headers,
    body,
    json<T>() {
      return JSON.parse(body.toString('utf8')) as T;
    },
  };
}
