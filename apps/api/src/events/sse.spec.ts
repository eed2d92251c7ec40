import { parseLastEventId, sseComment, sseEvent, sseRetry } from './sse';

describe('SSE framing', () => {
  it('frames an event with id, name and one data line per line of data', () => {
    expect(sseEvent({ id: '42', event: 'workload', data: '{"a":1}' })).toBe('id: 42\nevent: workload\ndata: {"a":1}\n\n');
    expect(sseEvent({ event: 'host', data: 'a\nb' })).toBe('event: host\ndata: a\ndata: b\n\n');
  });

  it('refuses an id or event name that would break the framing', () => {
    expect(() => sseEvent({ id: '1\nevent: evil', event: 'workload', data: '{}' })).toThrow(/one line/);
    expect(() => sseEvent({ event: 'a\rb', data: '{}' })).toThrow(/one line/);
  });

  it('writes comments and retry hints on one line', () => {
    expect(sseComment('heart\nbeat')).toBe(': heart beat\n\n');
    expect(sseRetry(3000.7)).toBe('retry: 3000\n\n');
  });

  it('accepts only sequences it issued as Last-Event-ID', () => {
    expect(parseLastEventId('17')).toBe(17);
    expect(parseLastEventId(undefined)).toBeNull();
    expect(parseLastEventId('-1')).toBeNull();
    expect(parseLastEventId('1e3')).toBeNull();
    expect(parseLastEventId(['1', '2'])).toBeNull();
  });
});
