/**
 * The pure half of QMP (QEMU Machine Protocol): framing and message classification, kept
 * apart from the socket so it can be tested byte by byte. QMP sends one JSON object per
 * line (`\r\n`-terminated); a reply carries the `id` of the command it answers.
 */

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  capabilities: string[];
}

export interface QmpErrorBody {
  class: string;
  desc: string;
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export type QmpMessage =
  | { kind: 'greeting'; greeting: QmpGreeting }
  | { kind: 'return'; id: string | null; value: unknown }
  | { kind: 'error'; id: string | null; error: QmpErrorBody }
  | { kind: 'event'; event: QmpEvent };

/** Splits a byte stream into lines; keeps a partial line until its end arrives. */
export class QmpLineDecoder {
  private buffer = '';

  push(chunk: string): string[] {
    this.buffer += chunk;
    const lines: string[] = [];
    let newline = this.buffer.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line) lines.push(line);
      newline = this.buffer.indexOf('\n');
    }
    return lines;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Classifies one QMP line; throws on anything that is not a QMP message. */
export function parseQmpMessage(line: string): QmpMessage {
  const parsed: unknown = JSON.parse(line);
  if (!isRecord(parsed)) throw new Error(`QMP message is not an object: ${line.slice(0, 200)}`);
  const id = typeof parsed['id'] === 'string' ? parsed['id'] : null;
  if (isRecord(parsed['QMP'])) return { kind: 'greeting', greeting: parsed['QMP'] as unknown as QmpGreeting };
  if ('return' in parsed) return { kind: 'return', id, value: parsed['return'] };
  if (isRecord(parsed['error'])) {
    const error = parsed['error'];
    return { kind: 'error', id, error: { class: String(error['class'] ?? 'GenericError'), desc: String(error['desc'] ?? '') } };
  }
  if (typeof parsed['event'] === 'string') {
    return {
      kind: 'event',
      event: {
        event: parsed['event'],
        ...(isRecord(parsed['data']) ? { data: parsed['data'] } : {}),
        ...(isRecord(parsed['timestamp']) ? { timestamp: parsed['timestamp'] as QmpEvent['timestamp'] } : {}),
      } as QmpEvent,
    };
  }
  throw new Error(`unrecognised QMP message: ${line.slice(0, 200)}`);
}

export function encodeQmpCommand(execute: string, id: string, args?: Record<string, unknown>): string {
  return `${JSON.stringify({ execute, id, ...(args ? { arguments: args } : {}) })}\r\n`;
}
