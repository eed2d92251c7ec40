import { acceptOrCreateRequestId } from './http-context';
import { isJsonMediaType } from './json-body.middleware';

describe('request ids', () => {
  it('keeps a sane client request id', () => {
    expect(acceptOrCreateRequestId('abc-123_X.y')).toBe('abc-123_X.y');
    expect(acceptOrCreateRequestId('a'.repeat(128))).toBe('a'.repeat(128));
  });

  it.each([['a'.repeat(129)], ['has space'], ['new\nline'], ['{"json":1}'], [''], [undefined], [['a', 'b']]])('replaces %p with a generated one', (header) => {
    const id = acceptOrCreateRequestId(header);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(acceptOrCreateRequestId(header)).not.toBe(id);
  });
});

describe('isJsonMediaType', () => {
  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/merge-patch+json'])('accepts %s', (type) => {
    expect(isJsonMediaType(type)).toBe(true);
  });
  it.each([undefined, '', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'text/json+x'])(
    'rejects %p',
    (type) => {
      expect(isJsonMediaType(type)).toBe(false);
    },
  );
});
