import { copyValue } from './copy';

describe('copyValue (COPY text format)', () => {
  it('writes NULL as \\N and leaves plain text and numbers as they are', () => {
    expect(copyValue(null)).toBe('\\N');
    expect(copyValue(undefined)).toBe('\\N');
    expect(copyValue('node-1/abc')).toBe('node-1/abc');
    expect(copyValue(1234567890123)).toBe('1234567890123');
    expect(copyValue('2026-01-01T00:00:00.000Z')).toBe('2026-01-01T00:00:00.000Z');
  });

  it('escapes backslash, tab, newline and carriage return, so a value cannot split a row or a column', () => {
    expect(copyValue('a\\N')).toBe('a\\\\N');
    expect(copyValue('a\tb\nc\rd\\')).toBe('a\\tb\\nc\\rd\\\\');
  });
});
