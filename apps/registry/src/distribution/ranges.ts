/**
 * Range arithmetic of the protocol. Uploads use `Content-Range: <start>-<end>` (inclusive,
 * no unit, as the spec writes it; `bytes <start>-<end>/<total|*>` is accepted as well);
 * blob reads use standard HTTP `Range: bytes=…`.
 */

export interface ByteSpan {
  start: number;
  /** Inclusive. */
  end: number;
}

/** null when the header is not a well-formed upload range. */
export function parseUploadContentRange(header: string): ByteSpan | null {
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) return null;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return null;
  return { start, end };
}

/** The `Range` header of upload responses: the bytes received so far, `0-<offset-1>`. */
export function uploadRangeHeader(offset: number): string {
  return `0-${Math.max(0, offset - 1)}`;
}

export type BlobRange = { kind: 'whole' } | { kind: 'partial'; span: ByteSpan } | { kind: 'unsatisfiable' };

/**
 * A `Range: bytes=…` request header against a blob of `size` bytes. One range only (what
 * registry clients send); anything this does not understand is served whole, as RFC 9110
 * allows.
 */
export function parseBlobRange(header: string | undefined, size: number): BlobRange {
  if (!header) return { kind: 'whole' };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return { kind: 'whole' };
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', span: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || (match[2] !== '' && Number(match[2]) < start)) return { kind: 'unsatisfiable' };
  return { kind: 'partial', span: { start, end } };
}
