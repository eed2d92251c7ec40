import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@gureum/runtime';
import { tokenPermits } from '../auth/access';
import type { RequestAuthorizer } from '../auth/authorize-request';
import type { IssueToken } from '../auth/issue-token.usecase';
import type { DeleteBlob } from '../blobs/delete-blob.usecase';
import type { ReadBlob } from '../blobs/read-blob.usecase';
import { MAX_MANIFEST_BYTES } from '../distribution/manifest';
import { parseRepositoryName, type RepositoryName } from '../distribution/names';
import { OciError } from '../distribution/oci-error';
import { uploadRangeHeader } from '../distribution/ranges';
import type { DeleteManifest } from '../manifests/delete-manifest.usecase';
import type { ListReferrers } from '../manifests/list-referrers.usecase';
import type { ListTags } from '../manifests/list-tags.usecase';
import type { TenantDirectory } from '../metering/tenant-directory';
import { manifestTooLarge, type PutManifest } from '../manifests/put-manifest.usecase';
import type { ReadManifest } from '../manifests/read-manifest.usecase';
import { uploadLocation, type UploadBody, type UploadOutcome, type Uploads } from '../uploads/uploads.service';
import { challengeActions, matchRoute, requiredAction, type Route } from './registry-routes';

export interface RegistryHttpDependencies {
  authorizer: RequestAuthorizer;
  issueToken: IssueToken;
  tenants: TenantDirectory;
  readBlob: ReadBlob;
  deleteBlob: DeleteBlob;
  uploads: Uploads;
  putManifest: PutManifest;
  readManifest: ReadManifest;
  deleteManifest: DeleteManifest;
  listTags: ListTags;
  listReferrers: ListReferrers;
  logger: Logger;
  /** Base URL clients reach the registry at; defaults to `http://<Host header>`. */
  publicUrl?: string;
}

const API_VERSION_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' };

/**
 * The OCI Distribution HTTP surface on plain `node:http`: request bodies are blob bytes
 * streamed to storage, and every status and header is the protocol's, so there is nothing
 * for a web framework's body parsing or exception mapping to do. Each request is routed,
 * authorised, handed to one use case, and its OciError (if any) rendered once, here.
 */
export function createRegistryHandler(deps: RegistryHttpDependencies): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    response.on('finish', () => deps.logger.debug({ method: request.method, url: request.url, status: response.statusCode }, 'registry request'));
    handle(deps, request, response).catch((error: unknown) => sendError(deps.logger, request, response, error));
  };
}

async function handle(deps: RegistryHttpDependencies, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://registry.invalid');
  const method = request.method ?? 'GET';
  const route = matchRoute(url.pathname);
  if (!route) throw new OciError('UNSUPPORTED', 'no such endpoint', { path: url.pathname }, 404);
  const realm = `${deps.publicUrl ?? `http://${request.headers.host ?? '127.0.0.1'}`}/token`;

  if (route.kind === 'token') {
    if (method !== 'GET') throw methodNotAllowed(method);
    const token = await deps.issueToken.execute({
      authorization: request.headers.authorization,
      service: url.searchParams.get('service') ?? undefined,
      scopes: url.searchParams.getAll('scope'),
      ...(request.socket.remoteAddress ? { sourceAddress: request.socket.remoteAddress } : {}),
    });
    return sendJson(response, 200, token, { 'Cache-Control': 'no-store' });
  }
  if (route.kind === 'base') {
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method);
    await deps.authorizer.authenticate(request.headers.authorization, realm, null);
    return sendJson(response, 200, {}, {}, method === 'HEAD');
  }

  const name = parseRepositoryName(route.name);
  const action = requiredAction(route, method);
  // A mount also needs pull on its source: the challenge names both, so one token covers it.
  const from = route.kind === 'uploads' && url.searchParams.has('mount') ? validNameOrNull(url.searchParams.get('from')) : null;
  const claims = await deps.authorizer.authenticate(request.headers.authorization, realm, {
    name: name.full,
    actions: challengeActions(action),
    ...(from ? { also: { name: from, actions: ['pull' as const] } } : {}),
  });
  deps.authorizer.authorize(claims, name.full, action);
  // A namespace belongs to a tenant id, not to a name (a deleted tenant's name can be taken
  // again): a tenant working in its own namespace claims it, emptying it first if it was a
  // deleted tenant's (TenantDirectory). Also records the tenant id for metering.
  if (claims.tenantId !== null && claims.tenant === name.namespace) await deps.tenants.claim(name.namespace, claims.tenantId);
  await dispatch(deps, route, name, method, url, request, response, (from) => tokenPermits(claims.access, from, 'pull'));
}

async function dispatch(
  deps: RegistryHttpDependencies,
  route: Exclude<Route, { kind: 'base' | 'token' }>,
  name: RepositoryName,
  method: string,
  url: URL,
  request: IncomingMessage,
  response: ServerResponse,
  mayPull: (name: string) => boolean,
): Promise<void> {
  switch (route.kind) {
    case 'blob': {
      if (method === 'DELETE') {
        await deps.deleteBlob.execute({ name, digest: route.digest });
        return sendEmpty(response, 202);
      }
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method);
      const blob = await deps.readBlob.execute({ name, digest: route.digest, ...(request.headers.range ? { range: request.headers.range } : {}) });
      const headers: Record<string, string | number> = {
        ...API_VERSION_HEADER,
        'Content-Type': 'application/octet-stream',
        'Docker-Content-Digest': blob.digest,
        'Accept-Ranges': 'bytes',
        ETag: `"${blob.digest}"`,
        'Cache-Control': 'max-age=31536000',
      };
      if (blob.span) {
        headers['Content-Range'] = `bytes ${blob.span.start}-${blob.span.end}/${blob.size}`;
        headers['Content-Length'] = blob.span.end - blob.span.start + 1;
      } else {
        headers['Content-Length'] = blob.size;
      }
      response.writeHead(blob.span ? 206 : 200, headers);
      if (method === 'HEAD') return void response.end();
      await blob.writeTo(response);
      return void response.end();
    }
    case 'uploads': {
      if (method !== 'POST') throw methodNotAllowed(method);
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      const digest = url.searchParams.get('digest');
      let outcome: UploadOutcome;
      if (mount !== null && from !== null) {
        outcome = await deps.uploads.mount({ name, digest: mount, from, mayPullSource: mayPull(from) });
      } else if (digest !== null) {
        outcome = await deps.uploads.start({ name, digest, body: uploadBody(request) });
      } else {
        outcome = await deps.uploads.start({ name });
      }
      return sendUploadOutcome(response, name, outcome);
    }
    case 'upload': {
      const command = { name, uploadId: route.uploadId };
      if (method === 'GET') return sendSession(response, 204, await deps.uploads.status(command));
      if (method === 'PATCH') return sendSession(response, 202, await deps.uploads.patch({ ...command, body: uploadBody(request) }));
      if (method === 'PUT') {
        const digest = url.searchParams.get('digest');
        if (digest === null) throw new OciError('DIGEST_INVALID', 'the digest query parameter is required to complete an upload');
        return sendUploadOutcome(response, name, await deps.uploads.complete({ ...command, digest, body: uploadBody(request) }));
      }
      if (method === 'DELETE') {
        await deps.uploads.cancel(command);
        return sendEmpty(response, 204);
      }
      throw methodNotAllowed(method);
    }
    case 'manifest': {
      if (method === 'PUT') {
        const body = await readLimited(request, MAX_MANIFEST_BYTES);
        const stored = await deps.putManifest.execute({ name, reference: route.reference, contentType: request.headers['content-type'], body });
        return sendEmpty(response, 201, {
          Location: `/v2/${name.full}/manifests/${stored.digest}`,
          'Docker-Content-Digest': stored.digest,
          ...(stored.subject ? { 'OCI-Subject': stored.subject } : {}),
        });
      }
      if (method === 'DELETE') {
        await deps.deleteManifest.execute({ name, reference: route.reference });
        return sendEmpty(response, 202);
      }
      if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(method);
      const manifest = await deps.readManifest.execute({ name, reference: route.reference });
      const headers = {
        ...API_VERSION_HEADER,
        'Content-Type': manifest.mediaType,
        'Content-Length': manifest.size,
        'Docker-Content-Digest': manifest.digest,
        ETag: `"${manifest.digest}"`,
      };
      if (method === 'HEAD') {
        response.writeHead(200, headers);
        return void response.end();
      }
      const bytes = await manifest.read();
      response.writeHead(200, headers);
      return void response.end(bytes);
    }
    case 'tags': {
      if (method !== 'GET') throw methodNotAllowed(method);
      const nText = url.searchParams.get('n');
      const n = nText === null ? undefined : Number(nText);
      if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) throw new OciError('UNSUPPORTED', 'n must be a non-negative integer', { n: nText }, 400);
      const last = url.searchParams.get('last') ?? undefined;
      const page = await deps.listTags.execute({ name, ...(n !== undefined ? { n } : {}), ...(last !== undefined ? { last } : {}) });
      const headers: Record<string, string> = {};
      const lastTag = page.tags.at(-1);
      if (page.more && n !== undefined && lastTag !== undefined) {
        headers['Link'] = `</v2/${name.full}/tags/list?n=${n}&last=${encodeURIComponent(lastTag)}>; rel="next"`;
      }
      return sendJson(response, 200, { name: name.full, tags: page.tags }, headers);
    }
    case 'referrers': {
      if (method !== 'GET') throw methodNotAllowed(method);
      const artifactType = url.searchParams.get('artifactType') ?? undefined;
      const index = await deps.listReferrers.execute({ name, digest: route.digest, ...(artifactType !== undefined ? { artifactType } : {}) });
      const body = Buffer.from(JSON.stringify(index));
      response.writeHead(200, {
        ...API_VERSION_HEADER,
        'Content-Type': index.mediaType,
        'Content-Length': body.length,
        ...(artifactType !== undefined ? { 'OCI-Filters-Applied': 'artifactType' } : {}),
      });
      return void response.end(body);
    }
  }
}

function validNameOrNull(name: string | null): string | null {
  if (name === null) return null;
  try {
    return parseRepositoryName(name).full;
  } catch {
    return null;
  }
}

function uploadBody(request: IncomingMessage): UploadBody {
  const length = request.headers['content-length'];
  const contentLength = length === undefined ? null : Number(length);
  if (contentLength !== null && (!Number.isSafeInteger(contentLength) || contentLength < 0)) throw new OciError('SIZE_INVALID', 'invalid Content-Length');
  const contentRange = request.headers['content-range'];
  return { stream: request, contentLength, contentRange: contentRange ?? null };
}

async function readLimited(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw manifestTooLarge(declared);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw manifestTooLarge(total);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sendUploadOutcome(response: ServerResponse, name: RepositoryName, outcome: UploadOutcome): void {
  if (outcome.kind === 'session') return sendSession(response, 202, outcome.session);
  sendEmpty(response, 201, { Location: `/v2/${name.full}/blobs/${outcome.digest}`, 'Docker-Content-Digest': outcome.digest });
}

function sendSession(response: ServerResponse, status: number, session: { id: string; name: string; offset: number }): void {
  sendEmpty(response, status, { Location: uploadLocation(session), Range: uploadRangeHeader(session.offset), 'Docker-Upload-UUID': session.id });
}

function sendEmpty(response: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...API_VERSION_HEADER, 'Content-Length': 0, ...headers });
  response.end();
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, headOnly = false): void {
  const bytes = Buffer.from(JSON.stringify(body));
  response.writeHead(status, { ...API_VERSION_HEADER, 'Content-Type': 'application/json', 'Content-Length': bytes.length, ...headers });
  response.end(headOnly ? undefined : bytes);
}

function methodNotAllowed(method: string): OciError {
  return new OciError('UNSUPPORTED', `method ${method} not allowed here`, { method }, 405);
}

function sendError(logger: Logger, request: IncomingMessage, response: ServerResponse, error: unknown): void {
  const oci = error instanceof OciError ? error : null;
  if (clientWentAway(error, response)) {
    logger.debug({ method: request.method, url: request.url }, 'client closed the connection mid-response');
    response.destroy();
    return;
  }
  if (!oci) logger.error({ err: error, method: request.method, url: request.url }, 'registry request failed');
  else if (oci.status >= 500) logger.warn({ code: oci.code, method: request.method, url: request.url }, oci.message);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const status = oci?.status ?? 500;
  const body = oci ? oci.body() : { errors: [{ code: 'UNKNOWN', message: 'internal error', detail: null }] };
  const bytes = Buffer.from(JSON.stringify(body));
  // A request whose body we did not read (rejected early) cannot be followed on this connection.
  const unread = !request.readableEnded && request.headers['content-length'] !== '0' && request.method !== 'GET' && request.method !== 'HEAD';
  response.writeHead(status, {
    ...API_VERSION_HEADER,
    'Content-Type': 'application/json',
    'Content-Length': bytes.length,
    ...(oci?.headers ?? {}),
    ...(unread ? { Connection: 'close' } : {}),
  });
  response.end(request.method === 'HEAD' ? undefined : bytes);
}

/** A client that hangs up during a download (Docker does when it has what it needs) is no server error. */
function clientWentAway(error: unknown, response: ServerResponse): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE') && (response.destroyed || response.writableFinished || response.headersSent);
}
