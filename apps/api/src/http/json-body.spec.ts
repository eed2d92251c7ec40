import { rejectUnstorableStrings } from './json-body.middleware';

describe('rejectUnstorableStrings (the JSON parser reviver)', () => {
  const parse = (text: string) => JSON.parse(text, rejectUnstorableStrings) as unknown;

  it.each([
    ['a NUL in a value', '{"name":"a\\u0000b"}'],
    ['a NUL in a member name', '{"a\\u0000":1}'],
    ['a NUL deep in an array', '{"env":[{"v":["ok","\\u0000"]}]}'],
    ['a lone high surrogate', '{"name":"\\ud800"}'],
    ['a lone low surrogate', '{"name":"x\\udc00y"}'],
  ])('refuses %s', (_what, text) => {
    expect(() => parse(text)).toThrow(SyntaxError);
  });

  it('keeps everything else, including astral characters written as surrogate pairs', () => {
    expect(parse('{"name":"caf\\u00e9 \\ud83d\\ude00","n":1,"list":[null,true,"x"]}')).toEqual({ name: 'café 😀', n: 1, list: [null, true, 'x'] });
  });
});
