import { SseParser } from './sse-parser';

describe('SseParser', () => {
  it('parses named events with ids, across arbitrary chunk boundaries', () => {
    const stream = 'retry: 3000\n\n: connected\n\nid: 5\nevent: workload\ndata: {"a":1}\n\nid: 6\nevent: host\ndata: {"b":2}\n\n';
    for (let size = 1; size <= stream.length; size += 1) {
      const parser = new SseParser();
      const events = [];
      for (let i = 0; i < stream.length; i += size) events.push(...parser.push(stream.slice(i, i + size)));
      expect(events).toEqual([
        { event: 'workload', data: '{"a":1}', lastEventId: '5' },
        { event: 'host', data: '{"b":2}', lastEventId: '6' },
      ]);
      expect(parser.retryMs).toBe(3000);
    }
  });

  it('joins multi-line data, accepts CRLF and CR line ends, and ignores comments and unknown fields', () => {
    const parser = new SseParser();
    expect(parser.push('data: one\r\ndata:two\r\nfoo: bar\r\n: note\r\n\r\ndata: three\r\r\n')).toEqual([
      { event: 'message', data: 'one\ntwo', lastEventId: '' },
      { event: 'message', data: 'three', lastEventId: '' },
    ]);
    // A CR at the end of a chunk may be the first half of CRLF: the line waits for the next chunk.
    expect(parser.push('data: four\r')).toEqual([]);
    expect(parser.push('\n\r\n')).toEqual([{ event: 'message', data: 'four', lastEventId: '' }]);
  });

  it('dispatches nothing for an event without data and keeps the last id', () => {
    const parser = new SseParser();
    expect(parser.push('id: 9\nevent: workload\n\n')).toEqual([]);
    expect(parser.push('data: x\n\n')).toEqual([{ event: 'message', data: 'x', lastEventId: '9' }]);
  });
});
