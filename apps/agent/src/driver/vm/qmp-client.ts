import { createConnection } from 'node:net';

import { encodeQmpCommand, parseQmpMessage, QmpLineDecoder, type QmpErrorBody, type QmpEvent, type QmpGreeting } from './qmp-protocol';

/** A QMP session after capabilities negotiation; the driver only ever sees this interface. */
export interface QmpClient {
  readonly greeting: QmpGreeting;
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Returns an unsubscribe function. */
  onEvent(listener: (event: QmpEvent) => void): () => void;
  /** Resolves when the connection ends (QEMU exited, or close()). */
  readonly closed: Promise<void>;
  close(): void;
}

export type QmpConnect = (socketPath: string) => Promise<QmpClient>;

/** The byte stream a client runs over: a unix socket in production, a fake in unit tests. */
export interface QmpTransport {
  write(data: string): void;
  onData(listener: (chunk: string) => void): void;
  onClose(listener: (error?: Error) => void): void;
  end(): void;
}

export class QmpCommandError extends Error {
  constructor(
    readonly command: string,
    readonly qmpError: QmpErrorBody,
  ) {
    super(`QMP ${command} failed: ${qmpError.class}: ${qmpError.desc}`);
    this.name = 'QmpCommandError';
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Runs QMP over a transport: waits for the greeting, negotiates capabilities, then matches
 * replies to commands by id (QEMU answers in order, but ids keep that an assumption we do not
 * need) and fans events out to listeners.
 */
export class QmpSession implements QmpClient {
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<(event: QmpEvent) => void>();
  private nextId = 1;
  private ended = false;
  private endedWith: Error | undefined;
  private greetingValue: QmpGreeting | undefined;
  private greetingWaiter: { resolve: (greeting: QmpGreeting) => void; reject: (error: Error) => void } | undefined;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((resolve) => (this.resolveClosed = resolve));

  private constructor(private readonly transport: QmpTransport) {
    const decoder = new QmpLineDecoder();
    transport.onData((chunk) => {
      for (const line of decoder.push(chunk)) this.handleLine(line);
    });
    transport.onClose((error) => this.finish(error ?? new Error('QMP connection closed')));
  }

  static async open(transport: QmpTransport, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<QmpSession> {
    const session = new QmpSession(transport);
    try {
      await withTimeout(session.waitForGreeting(), timeoutMs, 'QMP greeting');
      await session.execute('qmp_capabilities', undefined, timeoutMs);
    } catch (error) {
      session.close();
      throw error;
    }
    return session;
  }

  get greeting(): QmpGreeting {
    if (!this.greetingValue) throw new Error('QMP greeting not received');
    return this.greetingValue;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<T> {
    if (this.ended) return Promise.reject(this.endedWith ?? new Error('QMP connection closed'));
    const id = `gureum-${this.nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`QMP ${command} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
      this.transport.write(encodeQmpCommand(command, id, args));
    });
  }

  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.transport.end();
    this.finish(new Error('QMP connection closed'));
  }

  private waitForGreeting(): Promise<QmpGreeting> {
    if (this.greetingValue) return Promise.resolve(this.greetingValue);
    if (this.ended) return Promise.reject(this.endedWith ?? new Error('QMP connection closed'));
    return new Promise((resolve, reject) => (this.greetingWaiter = { resolve, reject }));
  }

  private handleLine(line: string): void {
    let message;
    try {
      message = parseQmpMessage(line);
    } catch (error) {
      this.finish(error instanceof Error ? error : new Error(String(error)));
      this.transport.end();
      return;
    }
    switch (message.kind) {
      case 'greeting':
        this.greetingValue = message.greeting;
        this.greetingWaiter?.resolve(message.greeting);
        this.greetingWaiter = undefined;
        return;
      case 'event':
        for (const listener of this.listeners) listener(message.event);
        return;
      case 'return':
      case 'error': {
        const pending = message.id === null ? undefined : this.pending.get(message.id);
        if (!pending || message.id === null) return;
        this.pending.delete(message.id);
        clearTimeout(pending.timer);
        if (message.kind === 'return') pending.resolve(message.value);
        else pending.reject(new QmpCommandError(pending.command, message.error));
      }
    }
  }

  private finish(error: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.endedWith = error;
    this.greetingWaiter?.reject(error);
    this.greetingWaiter = undefined;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
    this.resolveClosed();
  }
}

/** Connects to QEMU's `-qmp unix:PATH,server=on,wait=off` socket. */
export const connectQmpSocket: QmpConnect = (socketPath) =>
  new Promise<QmpTransport>((resolve, reject) => {
    const socket = createConnection(socketPath);
    socket.setEncoding('utf8');
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      let closeListener: ((error?: Error) => void) | undefined;
      let lastError: Error | undefined;
      socket.on('error', (error) => (lastError = error));
      socket.on('close', () => closeListener?.(lastError));
      resolve({
        write: (data) => void socket.write(data),
        onData: (listener) => void socket.on('data', (chunk: string) => listener(chunk)),
        onClose: (listener) => (closeListener = listener),
        end: () => socket.destroy(),
      });
    });
  }).then((transport) => QmpSession.open(transport));

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
