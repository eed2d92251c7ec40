import { QmpCommandError, QmpSession, type QmpTransport } from './qmp-client';
import { encodeQmpCommand, parseQmpMessage, QmpLineDecoder } from './qmp-protocol';

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n';

/** A scripted QEMU end: answers commands by name, records what was written. */
class FakeQmpSocket implements QmpTransport {
  readonly written: Array<{ execute: string; id: string; arguments?: unknown }> = [];
  private dataListener: (chunk: string) => void = () => undefined;
  private closeListener: (error?: Error) => void = () => undefined;
  constructor(private readonly answer: (command: { execute: string; id: string }) => string | null) {}

  write(data: string): void {
    const command = JSON.parse(data) as { execute: string; id: string };
    this.written.push(command);
    const reply = this.answer(command);
    if (reply !== null) queueMicrotask(() => this.dataListener(reply));
  }
  onData(listener: (chunk: string) => void): void {
    this.dataListener = listener;
  }
  onClose(listener: (error?: Error) => void): void {
    this.closeListener = listener;
  }
  end(): void {
    this.closeListener();
  }
  push(chunk: string): void {
    this.dataListener(chunk);
  }
}

describe('QMP framing', () => {
  it('splits lines across chunk boundaries and drops blank lines', () => {
    const decoder = new QmpLineDecoder();
    expect(decoder.push('{"return": {}, "id"')).toEqual([]);
    expect(decoder.push(': "a"}\r\n\r\n{"event": "STOP"}\r\n{"ret')).toEqual(['{"return": {}, "id": "a"}', '{"event": "STOP"}']);
    expect(decoder.push('urn": 1}\n')).toEqual(['{"return": 1}']);
  });

  it('classifies greetings, returns, errors and events', () => {
    expect(parseQmpMessage(GREETING.trim())).toMatchObject({ kind: 'greeting', greeting: { version: { qemu: { major: 7 } } } });
    expect(parseQmpMessage('{"return": {"status": "running"}, "id": "x"}')).toEqual({ kind: 'return', id: 'x', value: { status: 'running' } });
    expect(parseQmpMessage('{"error": {"class": "GenericError", "desc": "boom"}, "id": "y"}')).toEqual({
      kind: 'error',
      id: 'y',
      error: { class: 'GenericError', desc: 'boom' },
    });
    expect(parseQmpMessage('{"event": "SHUTDOWN", "data": {"guest": true}}')).toMatchObject({ kind: 'event', event: { event: 'SHUTDOWN', data: { guest: true } } });
    expect(() => parseQmpMessage('[1]')).toThrow(/not an object/);
    expect(() => parseQmpMessage('{"what": 1}')).toThrow(/unrecognised/);
  });

  it('encodes a command with its id and arguments, CRLF-terminated', () => {
    expect(encodeQmpCommand('migrate', 'gureum-3', { uri: 'tcp:127.0.0.1:1' })).toBe(
      '{"execute":"migrate","id":"gureum-3","arguments":{"uri":"tcp:127.0.0.1:1"}}\r\n',
    );
    expect(encodeQmpCommand('stop', 'i')).toBe('{"execute":"stop","id":"i"}\r\n');
  });
});

describe('QmpSession', () => {
  const answers = (command: { execute: string; id: string }): string | null => {
    switch (command.execute) {
      case 'qmp_capabilities':
        return `{"return": {}, "id": "${command.id}"}\r\n`;
      case 'query-status':
        return `{"return": {"status": "paused", "running": false}, "id": "${command.id}"}\r\n`;
      case 'loadvm':
        return `{"error": {"class": "GenericError", "desc": "no snapshot"}, "id": "${command.id}"}\r\n`;
      default:
        return null;
    }
  };

  async function openSession(): Promise<{ session: QmpSession; socket: FakeQmpSocket }> {
    const socket = new FakeQmpSocket(answers);
    const opening = QmpSession.open(socket, 1_000);
    socket.push(GREETING);
    return { session: await opening, socket };
  }

  it('negotiates capabilities after the greeting, then matches replies to commands by id', async () => {
    const { session, socket } = await openSession();
    expect(socket.written[0]).toMatchObject({ execute: 'qmp_capabilities' });
    expect(session.greeting.version.qemu.minor).toBe(2);
    await expect(session.execute('query-status')).resolves.toEqual({ status: 'paused', running: false });
    await expect(session.execute('loadvm')).rejects.toEqual(expect.any(QmpCommandError));
    expect(new Set(socket.written.map((c) => c.id)).size).toBe(socket.written.length);
  });

  it('delivers events to listeners until they unsubscribe', async () => {
    const { session, socket } = await openSession();
    const seen: string[] = [];
    const unsubscribe = session.onEvent((event) => seen.push(event.event));
    socket.push('{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}\r\n');
    unsubscribe();
    socket.push('{"event": "RESUME"}\r\n');
    expect(seen).toEqual(['STOP']);
  });

  it('fails pending commands when the connection closes, and times out unanswered ones', async () => {
    const { session, socket } = await openSession();
    await expect(session.execute('never-answered', undefined, 20)).rejects.toThrow(/timed out/);
    const pending = session.execute('never-answered');
    socket.end();
    await expect(pending).rejects.toThrow(/closed/);
    await expect(session.closed).resolves.toBeUndefined();
    await expect(session.execute('query-status')).rejects.toThrow(/closed/);
  });

  it('gives up when no greeting arrives', async () => {
    await expect(QmpSession.open(new FakeQmpSocket(answers), 20)).rejects.toThrow(/greeting timed out/);
  });
});
