import { Controller, Get, Inject, Param, Query, Req, Res, type BeforeApplicationShutdown } from '@nestjs/common';
import { ErrorCode, GureumError, type Caller, type ContainerLogChunk, type LogCursor } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import type { Logger } from 'pino';
import { API_LOGGER, STREAM_RECHECK_MS } from '../app/tokens';
import { bearerToken } from '../auth/access-guard';
import { ApiKeyVerifier } from '../auth/api-key-verifier';
import { watchCredential } from '../auth/credential-watch';
import { TenantCaller } from '../auth/tenant-caller.decorator';
import type { HttpRequest, HttpResponse } from '../http/http-context';
import { SessionService } from '../sessions/session.service';
import { ContainerLogsQuerySchema, type ContainerLogsQuery } from './container-logs-http.schemas';
import { WorkloadPathSchema, type WorkloadPath } from './workload-http.schemas';

/** A log answered at once is capped (tail and since narrow it); `follow` streams without a cap. */
const MAX_LOG_BYTES = 4 * 1024 * 1024;
const FOLLOW_POLL_MS = 300;
/** Per agent reply: base64 makes it a third larger, still far below NATS's 1 MiB. */
const CHUNK_BYTES = 131_072;

/**
 * `GET /v1/workloads/{id}/logs`: a container's stdout and stderr as text/plain, one line per
 * entry, `stdout ` or `stderr ` first (then the engine's timestamp with `timestamps=true`).
 * The scheduler says (tenant-checked) which host runs the container and for which tenant; the
 * api then reads cursor-addressed chunks from that host's agent, which serves only a container
 * it created for exactly that workload and tenant. `follow=true` polls for new lines until the
 * container exits, the client goes, or the credential stops being valid (re-checked every
 * GUREUM_API_STREAM_RECHECK_MS, as the event stream does). VMs have their serial console instead.
 */
@Controller()
export class ContainerLogsController implements BeforeApplicationShutdown {
  /** Open follows, ended on shutdown: the HTTP server would otherwise wait for them. */
  private readonly follows = new Set<() => void>();

  constructor(
    @Inject(Bus) private readonly bus: Bus,
    @Inject(API_LOGGER) private readonly logger: Logger,
    @Inject(ApiKeyVerifier) private readonly apiKeys: ApiKeyVerifier,
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(STREAM_RECHECK_MS) private readonly recheckMs: number,
  ) {}

  beforeApplicationShutdown(): void {
    for (const end of [...this.follows]) end();
  }

  @Get('v1/workloads/:id/logs')
  async logs(
    @TenantCaller() caller: Caller,
    @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath,
    @Query(new ContractPipe(ContainerLogsQuerySchema, 'query')) query: ContainerLogsQuery,
    @Req() request: HttpRequest,
    @Res() response: HttpResponse,
  ): Promise<void> {
    const { hostId, tenantId } = await this.containerOf(caller, workloadId);
    const read = (cursor: LogCursor | null, first = false): Promise<ContainerLogChunk> =>
      this.bus.request(
        'agent.*.cmd.container.logs.v1',
        { workloadId, tenantId, maxBytes: CHUNK_BYTES, ...(cursor ? { cursor } : {}), ...(first && query.tail !== undefined ? { tail: query.tail } : {}) },
        { nodeId: hostId, timeoutMs: 10_000 },
      );
    // Errors before the first byte still reach the client as a problem document.
    let chunk = await read(query.since !== undefined ? { sinceNs: query.since, skip: 0 } : null, true);
    response.statusCode = 200;
    response.setHeader('Content-Type', 'text/plain; charset=utf-8');
    response.setHeader('Cache-Control', 'no-store');
    response.setHeader('X-Accel-Buffering', 'no');
    const render = (logs: ContainerLogChunk): Buffer => Buffer.concat(logs.entries.map((entry) => lineOf(entry, query.timestamps)));

    if (!query.follow) {
      const parts: Buffer[] = [render(chunk)];
      let total = parts[0]!.length;
      while (chunk.more && total < MAX_LOG_BYTES) {
        chunk = await read(chunk.cursor);
        const part = render(chunk);
        parts.push(part);
        total += part.length;
      }
      response.end(Buffer.concat(parts));
      return;
    }

    const log = this.logger.child({ requestId: caller.requestId, principalId: caller.principalId, tenantId: caller.tenantId, workloadId });
    let open = true;
    const end = () => {
      if (!open) return;
      open = false;
      stopWatching();
      this.follows.delete(end);
      if (!response.writableEnded) response.end();
    };
    const stopWatching = watchCredential({
      apiKeys: this.apiKeys,
      sessions: this.sessions,
      presented: bearerToken(request.headers.authorization),
      everyMs: this.recheckMs,
      log,
      onRevoked: () => {
        log.info('ending a log follow: its credential is no longer valid');
        end();
      },
    });
    this.follows.add(end);
    request.on('close', end);
    response.on('close', end);
    response.flushHeaders();
    try {
      while (open) {
        if (chunk.entries.length > 0) response.write(render(chunk));
        // The agent reads the container's state before its log, so "not running" with nothing new means the end.
        else if (!chunk.running) break;
        if (!chunk.more) await sleep(FOLLOW_POLL_MS);
        if (!open) break;
        chunk = await read(chunk.cursor);
      }
    } catch (error) {
      // The container went away (removed, re-placed) or its agent is unreachable: the follow ends.
      if (open) log.info({ err: error }, 'a log follow ended: the container log is no longer readable');
    } finally {
      end();
    }
  }

  private async containerOf(caller: Caller, workloadId: string): Promise<{ hostId: string; tenantId: string }> {
    const view = await this.bus.request('scheduler.cmd.workload.get.v1', { caller, workloadId });
    if (view.kind !== 'container') {
      throw new GureumError(ErrorCode.InvalidState, `workload ${workloadId} is a VM: VMs have no container log; read its serial console at /v1/workloads/${workloadId}/console`, {
        workloadId,
        kind: view.kind,
        console: `/v1/workloads/${workloadId}/console`,
      });
    }
    if (!view.hostId) throw new GureumError(ErrorCode.InvalidState, `workload ${workloadId} is ${view.state} and on no host yet: it has no log`, { workloadId, state: view.state });
    return { hostId: view.hostId, tenantId: view.tenantId };
  }
}

function lineOf(entry: ContainerLogChunk['entries'][number], timestamps: boolean): Buffer {
  const data = Buffer.from(entry.data, 'base64');
  const prefix = Buffer.from(timestamps ? `${entry.stream} ${entry.time} ` : `${entry.stream} `);
  const newline = data.length > 0 && data[data.length - 1] === 0x0a ? [] : [Buffer.from('\n')];
  return Buffer.concat([prefix, data, ...newline]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
