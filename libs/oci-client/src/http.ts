import { request as httpRequest, Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A response whose body has not been read yet: read it (`text`, `buffer`) or stream it (`body`), or `discard` it. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  buffer(limit?: number): Promise<Buffer>;
  discard(): Promise<void>;
}

export type RequestBody = Buffer | { stream: Readable; length: number } | undefined;

const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16 });

/**
 * One HTTP request on node:http(s) with keep-alive: bodies are streamed both ways and sent
 * with an exact Content-Length (fetch would send a stream chunked), which registries and
 * our digest checks rely on.
 */
export function sendRequest(url: URL, method: string, headers: Record<string, string>, body: RequestBody): Promise<RawResponse> {
  return new Promise<RawResponse>((resolve, reject) => {
    const outgoing: Record<string, string | number> = { ...headers };
    if (Buffer.isBuffer(body)) outgoing['Content-Length'] = body.length;
    else if (body) outgoing['Content-Length'] = body.length;
    else if (method === 'PUT' || method === 'POST' || method === 'PATCH') outgoing['Content-Length'] = 0;
    const secure = url.protocol === 'https:';
    const send = secure ? httpsRequest : httpRequest;
    const req = send(url, { method, headers: outgoing, agent: secure ? httpsAgent : httpAgent }, (res) => resolve(wrap(res)));
    req.on('error', reject);
    if (Buffer.isBuffer(body)) req.end(body);
    else if (body) pipeline(body.stream, req).catch(reject);
    else req.end();
  });
}

function wrap(res: IncomingMessage): RawResponse {
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    body: res,
    async buffer(limit = 16 * 1024 * 1024) {
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        total += chunk.length;
        if (total > limit) {
          res.destroy();
          throw new Error(`response larger than ${limit} bytes`);
        }
        chunks.push(chunk);
      }
      return Buffer.concat(chunks);
    },
    async discard() {
      res.resume();
      if (!res.readableEnded) await new Promise<void>((done) => res.once('end', done).once('close', done));
    },
  };
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
