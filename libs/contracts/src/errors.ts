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
