/**
 * Server-sent events framing (WHATWG HTML, "event stream interpretation"). Data is one JSON
 * document per event, so it never contains a newline; ids and names are ours, never a client's.
 */

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export function sseEvent({ id, event, data }: SseEvent): string {
  for (const field of [id ?? '', event]) {
    if (/[\r\n]/.test(field)) throw new Error('an SSE id or event name must be one line');
  }
  const lines = data.split(/\r\n|\r|\n/).map((line) => `data: ${line}`);
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\n${lines.join('\n')}\n\n`;
}

/** A comment line: ignored by clients, keeps proxies and idle timers from closing the connection. */
export function sseComment(text: string): string {
  return `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
}

export function sseRetry(milliseconds: number): string {
  return `retry: ${Math.max(0, Math.trunc(milliseconds))}\n\n`;
}

/** `Last-Event-ID` as we issue it (a stream sequence); anything else means "start from now". */
export function parseLastEventId(header: string | string[] | undefined): number | null {
  if (typeof header !== 'string' || !/^[0-9]{1,15}$/.test(header)) return null;
  return Number(header);
}
