/**
 * An incremental parser of a server-sent event stream (WHATWG HTML "event stream
 * interpretation"), for reading `GET /v1/events/stream` with fetch: EventSource cannot send
 * the Authorization header. Feed it decoded text as it arrives; it returns complete events.
 */

export interface ServerSentEvent {
  /** `message` when the server named none. */
  event: string;
  data: string;
  /** The last id seen on the stream so far (sticky, as the spec says). */
  lastEventId: string;
}

export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private eventName = '';
  private lastEventId = '';
  /** The reconnection delay the server asked for, if it did. */
  retryMs: number | null = null;

  push(chunk: string): ServerSentEvent[] {
    this.buffer += chunk;
    const events: ServerSentEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone \r at the very end may be half of \r\n: wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): ServerSentEvent | null {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.eventName = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
    return null;
  }

  private dispatch(): ServerSentEvent | null {
    const data = this.data;
    const eventName = this.eventName;
    this.data = [];
    this.eventName = '';
    if (data.length === 0) return null;
    return { event: eventName || 'message', data: data.join('\n'), lastEventId: this.lastEventId };
  }
}
