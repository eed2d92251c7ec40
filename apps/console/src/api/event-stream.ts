import { SseParser } from './sse-parser';
import type { ApiClient } from './client';

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface StreamHandlers {
  onEvent(event: string, data: unknown): void;
  onStatus?(status: StreamStatus, detail?: string): void;
}

/**
 * Reads `GET /v1/events/stream` with fetch and a ReadableStream (EventSource cannot send the
 * Authorization header), and reconnects with Last-Event-ID after the server closes the stream
 * or the network drops, so no transition in between is missed. Returns a stop function.
 */
export function openEventStream(client: ApiClient, handlers: StreamHandlers): () => void {
  const controller = new AbortController();
  let lastEventId = '';
  let retryMs = 3000;

  const run = async () => {
    while (!controller.signal.aborted) {
      handlers.onStatus?.(lastEventId ? 'reconnecting' : 'connecting');
      try {
        const authorization = client.authorization();
        if (!authorization) break;
        const response = await fetch('/v1/events/stream', {
          headers: { Authorization: authorization, Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) },
          signal: controller.signal,
        });
        if (response.status === 401 && (await client.refresh())) continue;
        if (!response.ok || !response.body) {
          handlers.onStatus?.('reconnecting', `the event stream answered ${response.status}`);
        } else {
          handlers.onStatus?.('live');
          const parser = new SseParser();
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            for (const event of parser.push(value)) {
              lastEventId = event.lastEventId;
              try {
                handlers.onEvent(event.event, JSON.parse(event.data));
              } catch {
                // an event the page cannot use is skipped, the stream goes on
              }
            }
            if (parser.retryMs !== null) retryMs = parser.retryMs;
          }
        }
      } catch {
        if (controller.signal.aborted) break;
        handlers.onStatus?.('reconnecting', 'the connection to the event stream dropped');
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
    handlers.onStatus?.('stopped');
  };
  void run();
  return () => controller.abort();
}
