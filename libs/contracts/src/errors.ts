import { z } from 'zod';

/**
 * Stable error codes. They travel over NATS and appear in HTTP problem documents as
 * `code`; clients branch on them, so a code is never renamed or reused for another meaning.
 */
export const ErrorCode = {
  ValidationFailed: 'validation_failed',
  Unauthenticated: 'unauthenticated',
  Forbidden: 'forbidden',
  NotFound: 'not_found',
  Conflict: 'conflict',
  InvalidState: 'invalid_state',
  ImageUnknown: 'image_unknown',
  ResourcesExceedHost: 'resources_exceed_host',
  /** A tenant compute quota would be exceeded; details name it (`QuotaExceededDetails`). */
  QuotaExceeded: 'quota_exceeded',
  PayloadTooLarge: 'payload_too_large',
  /** The caller is throttled; details carry `retryAfterSeconds`. */
  RateLimited: 'rate_limited',
  Unavailable: 'unavailable',
  Timeout: 'timeout',
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ErrorCodeSchema = z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]);

/** What an error looks like on the wire (NATS reply `err`). */
export const WireErrorSchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type WireError = z.infer<typeof WireErrorSchema>;

/**
 * The one exception type of the domain. Services throw it; each transport maps it once
 * (problem+json at the api, a typed reply over NATS).
 */
export class GureumError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GureumError';
  }

  toWire(): WireError {
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }

  static fromWire(wire: WireError): GureumError {
    return new GureumError(wire.code, wire.message, wire.details);
  }
}

/** Turns a zod failure into the validation error every boundary returns. */
export function validationError(error: z.ZodError, what: string): GureumError {
  const issues = error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new GureumError(ErrorCode.ValidationFailed, `invalid ${what}: ${summary}`, { issues });
}

/** Parses `value` with `schema` or throws a GureumError(validation_failed). */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(result.error, what);
  return result.data;
}

/** Node's socket errors that mean "the other end is not there (now)". */
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/**
 * PostgreSQL SQLSTATEs of a server that is not (or no longer) serving us: class 08 (connection
 * exception), 57P01–57P03 (admin/crash shutdown, cannot connect now), 53300 (too many connections).
 */
const UNAVAILABLE_SQLSTATES = /^(08...|57P0[123]|53300)$/;
/** What node-postgres and TypeORM say, without a code, when the connection went away. */
const CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is not established|Driver not Connected|the database system is (starting up|shutting down)/i;

/**
 * Whether `error` (or anything in its `cause`/`driverError` chain) says that a dependency —
 * the database, typically — cannot be reached right now, as opposed to a bug or a bad request.
 * Read from the error's shape only, so every transport can map it to `unavailable` without
 * knowing the driver. Depth-limited: a cycle of causes cannot hang it.
 */
export function isDependencyUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth += 1) {
    const candidate = current as { code?: unknown; message?: unknown; cause?: unknown; driverError?: unknown; errors?: unknown };
    if (current instanceof GureumError) return current.code === ErrorCode.Unavailable;
    if (typeof candidate.code === 'string' && (CONNECTION_ERROR_CODES.has(candidate.code) || UNAVAILABLE_SQLSTATES.test(candidate.code))) return true;
    if (typeof candidate.message === 'string' && CONNECTION_MESSAGES.test(candidate.message)) return true;
    // Node's AggregateError (a connect to several addresses: ::1 and 127.0.0.1) carries the socket errors in `errors`.
    if (Array.isArray(candidate.errors) && candidate.errors.some((inner) => isDependencyUnavailable(inner))) return true;
    current = candidate.driverError ?? candidate.cause;
  }
  return false;
}

/** `error` as the typed `unavailable` a caller may retry, when it is one; otherwise null. */
export function unavailableFrom(error: unknown, what = 'a dependency'): GureumError | null {
  if (error instanceof GureumError) return error.code === ErrorCode.Unavailable ? error : null;
  if (!isDependencyUnavailable(error)) return null;
  return new GureumError(ErrorCode.Unavailable, `${what} is unavailable; retry shortly`, undefined, { cause: error });
}
