import { once } from 'node:events';
import { Controller, Get, Inject, Query, Req, Res, type BeforeApplicationShutdown } from '@nestjs/common';
import { ErrorCode, GureumError } from '@gureum/contracts';
import { ContractPipe } from '@gureum/messaging';
import type { Logger } from 'pino';
import { API_LOGGER, STREAM_RECHECK_MS } from '../app/tokens';
import { bearerToken } from '../auth/access-guard';
import { watchCredential } from '../auth/credential-watch';
import { ApiKeyVerifier } from '../auth/api-key-verifier';
import type { Principal } from '../auth/principal';
import { Context, CurrentPrincipal } from '../auth/tenant-caller.decorator';
import type { HttpRequest, HttpResponse, RequestContext } from '../http/http-context';
import { SessionService } from '../sessions/session.service';
import { feedSubjectFor, toClientEvent } from './client-event';
import { EventFeed, type FeedSubscription } from './event-feed';
import { EventStreamQuerySchema, type EventStreamQuery } from './event-stream-http.schemas';
import { parseLastEventId, sseComment, sseEvent, sseRetry } from './sse';

/** Heartbeat comments keep idle connections (and proxies between) from timing out. */
export const HEARTBEAT_MS = 15_000;
/** What a browser waits before reconnecting after the stream ends. */
const RECONNECT_MS = 3_000;

/**
 * `GET /v1/events/stream`: workload state changes (and host changes for operators) as
 * server-sent events, fed by an ordered ephemeral JetStream consumer per connection. Tenants
 * see only their own workloads. Authenticated like every route, by the Authorization header
 * (so browsers read it with fetch, not EventSource). The credential is checked again every
 * `GUREUM_API_STREAM_RECHECK_MS`: a revoked API key, a logged-out or refresh-reused session,
 * a removed user or a deleted tenant ends the stream (a suspended tenant may still read).
 */
@Controller('v1/events')
export class EventStreamController implements BeforeApplicationShutdown {
  /** Open streams, ended on shutdown: the HTTP server would otherwise wait for them to finish. */
  private readonly streams = new Set<() => void>();

  constructor(
    @Inject(EventFeed) private readonly feed: EventFeed,
    @Inject(API_LOGGER) private readonly logger: Logger,
    @Inject(ApiKeyVerifier) private readonly apiKeys: ApiKeyVerifier,
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(STREAM_RECHECK_MS) private readonly recheckMs: number,
  ) {}

  beforeApplicationShutdown(): void {
    for (const close of [...this.streams]) close();
  }

  @Get('stream')
  async stream(
    @CurrentPrincipal() principal: Principal,
    @Context() context: RequestContext,
    @Query(new ContractPipe(EventStreamQuerySchema, 'query')) query: EventStreamQuery,
    @Req() request: HttpRequest,
    @Res() response: HttpResponse,
  ): Promise<void> {
    const log = this.logger.child({ requestId: context.requestId, principalId: principal.principalId, tenantId: principal.tenantId });
    let subscription: FeedSubscription;
    try {
      subscription = await this.feed.subscribe(feedSubjectFor(principal), parseLastEventId(request.headers['last-event-id']));
    } catch (error) {
      // Before any byte is written, so the client still gets a problem document.
      log.warn({ err: error }, 'could not open the event feed');
      throw new GureumError(ErrorCode.Unavailable, 'the event feed is not available right now; retry shortly');
    }

    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx and similar proxies would otherwise buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    response.write(sseRetry(RECONNECT_MS));
    response.write(sseComment('connected'));

    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      clearInterval(heartbeat);
      stopWatching();
      clearTimeout(deadline);
      this.streams.delete(close);
      void subscription.stop();
    };
    this.streams.add(close);
    const heartbeat = setInterval(() => response.write(sseComment('heartbeat')), HEARTBEAT_MS);
    const deadline = setTimeout(close, query.maxSeconds * 1000);
    const stopWatching = watchCredential({
      apiKeys: this.apiKeys,
      sessions: this.sessions,
      presented: bearerToken(request.headers.authorization),
      everyMs: this.recheckMs,
      log,
      onRevoked: () => {
        log.info('ending an event stream: its credential is no longer valid');
        if (open && !response.writableEnded) response.write(sseComment('the credential of this stream is no longer valid'));
        close();
        if (!response.writableEnded) response.end();
      },
    });
    request.on('close', close);
    response.on('close', close);

    try {
      for await (const message of subscription) {
        if (!open) break;
        const result = toClientEvent(principal, message);
        if ('invalid' in result) {
          log.warn({ subject: message.subject, seq: message.seq, problem: result.invalid }, 'dropped an invalid event');
          continue;
        }
        if ('skip' in result) continue;
        // A slow client: wait for the socket to drain rather than buffering without bound.
        if (!response.write(sseEvent(result.event))) await Promise.race([once(response, 'drain'), once(response, 'close')]);
      }
    } catch (error) {
      if (open) log.warn({ err: error }, 'the event feed ended with an error');
    } finally {
      close();
      if (!response.writableEnded) response.end();
    }
  }
}
