import type { IncomingMessage } from 'node:http';
import { UnsupportedMediaTypeException } from '@nestjs/common';
import { ErrorCode, GureumError } from '@gureum/contracts';
import type { HttpRequest, HttpResponse } from './http-context';

/** The largest request body the API reads. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** `application/json` and structured `+json` types (RFC 6839), parameters ignored. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  return mediaType === 'application/json' || /^application\/[a-z0-9.!#$&^_-]+\+json$/.test(mediaType);
}

/** Same test as body-parser's: a request has a body if it declares a length or a transfer encoding. */
export function hasBody(request: IncomingMessage): boolean {
  return request.headers['transfer-encoding'] !== undefined || (request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0');
}

/**
 * Runs before the JSON parser. Rejects a non-JSON body with 415 and a body declared larger
 * than the limit with 413 before a byte of it is read, so a 10 MB upload costs nothing. A
 * chunked body with no declared length is cut off by the parser's own limit instead.
 */
export function jsonBodyGate(maxBytes: number = MAX_BODY_BYTES, readsItsOwnBody: (request: HttpRequest) => boolean = () => false) {
  return (request: HttpRequest, _response: HttpResponse, next: (error?: unknown) => void): void => {
    // A route that streams a non-JSON body itself (a build context) applies its own limits.
    if (!hasBody(request) || readsItsOwnBody(request)) return next();
    if (!isJsonMediaType(request.headers['content-type'])) {
      return next(new UnsupportedMediaTypeException(`request bodies must be application/json, not ${describeContentType(request.headers['content-type'])}`));
    }
    const declaredLength = Number(request.headers['content-length']);
    if (Number.isFinite(declaredLength) && declaredLength > maxBytes) {
      return next(new GureumError(ErrorCode.PayloadTooLarge, `the request body is ${declaredLength} bytes; at most ${maxBytes} are accepted`));
    }
    next();
  };
}

function describeContentType(contentType: string | undefined): string {
  if (!contentType) return 'a body without Content-Type';
  const mediaType = contentType.split(';')[0]!.trim().slice(0, 100);
  return /^[\x21-\x7e]+$/.test(mediaType) ? mediaType : 'an unreadable Content-Type';
}

/** U+0000 and unpaired surrogates: valid JSON escapes that PostgreSQL cannot store in text or jsonb. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The JSON parser's reviver: refuses a string (value or member name) PostgreSQL could not
 * store, so every route answers 400 instead of failing at the database with 500. A throw
 * here becomes body-parser's 400 `entity.parse.failed`, mapped to `validation_failed`.
 */
export function rejectUnstorableStrings(key: string, value: unknown): unknown {
  if (UNSTORABLE.test(key) || (typeof value === 'string' && UNSTORABLE.test(value))) {
    throw new SyntaxError('the JSON body contains a NUL character (\\u0000) or an unpaired surrogate, which cannot be stored');
  }
  return value;
}
