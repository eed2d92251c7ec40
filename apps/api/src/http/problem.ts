import { STATUS_CODES } from 'node:http';
import { HttpException } from '@nestjs/common';
import { ErrorCode, ErrorCodeSchema, GureumError, isDependencyUnavailable, QuotaExceededDetailsSchema } from '@gureum/contracts';
import { z } from 'zod';
import { RateLimitedError } from '../auth/rate-limited.error';

/**
 * RFC 9457 problem details: the one error format of the HTTP API. Every failure, whether it
 * comes from a guard, a pipe, the body parser, Express's router or a remote service, is
 * mapped here, once.
 */

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://gureum.dev/problems/';

/**
 * HTTP-only codes on top of the domain's ErrorCode: they describe how a request was sent,
 * which no service behind the api ever sees.
 */
export const HttpOnlyProblemCode = { UnsupportedMediaType: 'unsupported_media_type', RateLimited: 'rate_limited' } as const;
export type ProblemCode = ErrorCode | (typeof HttpOnlyProblemCode)[keyof typeof HttpOnlyProblemCode];
export const ProblemCodeSchema = z.enum([...ErrorCodeSchema.options, ...Object.values(HttpOnlyProblemCode)]);

/** Status and title per code. Titles are per problem type (RFC 9457 §3.1.4), the detail is per occurrence. */
const PROBLEM_TYPES: Record<ProblemCode, { status: number; title: string }> = {
  validation_failed: { status: 400, title: 'The request is invalid' },
  unauthenticated: { status: 401, title: 'Authentication is required' },
  forbidden: { status: 403, title: 'The caller may not do this' },
  not_found: { status: 404, title: 'Not found' },
  conflict: { status: 409, title: 'The request conflicts with existing state' },
  invalid_state: { status: 409, title: 'Not possible in the current state' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'The request body must be JSON' },
  rate_limited: { status: 429, title: 'Too many requests' },
  image_unknown: { status: 422, title: 'The image is unknown' },
  resources_exceed_host: { status: 422, title: 'No host could ever fit these resources' },
  quota_exceeded: { status: 403, title: 'A quota of the tenant does not allow this' },
  internal: { status: 500, title: 'Internal error' },
  unavailable: { status: 503, title: 'Temporarily unavailable' },
  timeout: { status: 504, title: 'A service did not answer in time' },
};

export const ProblemFieldErrorSchema = z.object({ path: z.string(), message: z.string() });

export const ProblemSchema = z.object({
  type: z.url(),
  title: z.string(),
  status: z.number().int().min(400).max(599),
  detail: z.string(),
  code: ProblemCodeSchema,
  /** The request path the problem occurred on. */
  instance: z.string(),
  requestId: z.string(),
  /** Per-field validation failures, when there are any. */
  errors: z.array(ProblemFieldErrorSchema).optional(),
  /** `quota_exceeded`: which quota, its limit, what is used and what the request asked for. */
  quota: QuotaExceededDetailsSchema.shape.quota.optional(),
  limit: z.number().int().optional(),
  used: z.number().int().optional(),
  requested: z.number().int().optional(),
});
export type Problem = z.infer<typeof ProblemSchema>;

export interface ProblemResponse {
  problem: Problem;
  headers: Record<string, string>;
  /** Server faults are logged with their cause; client errors only appear in the access log. */
  isServerFault: boolean;
}

export interface ProblemOccurrence {
  method: string;
  path: string;
  requestId: string;
}

/** Retry-After of `unavailable` and `timeout`: a failover or restart of PostgreSQL or NATS takes seconds. */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 2;

const GENERIC_INTERNAL_DETAIL = 'an unexpected error occurred; quote the request id when reporting it';

export function toProblem(exception: unknown, occurrence: ProblemOccurrence): ProblemResponse {
  const { code, detail, errors, extensions } = classify(exception, occurrence);
  const { status, title } = PROBLEM_TYPES[code];
  const problem: Problem = {
    type: `${PROBLEM_TYPE_BASE}${code}`,
    title,
    status,
    detail,
    code,
    instance: occurrence.path,
    requestId: occurrence.requestId,
    ...(errors && errors.length > 0 ? { errors } : {}),
    ...extensions,
  };
  const headers: Record<string, string> = { 'Content-Type': PROBLEM_CONTENT_TYPE };
  if (code === ErrorCode.Unauthenticated) headers['WWW-Authenticate'] = 'Bearer realm="gureum"';
  if (exception instanceof RateLimitedError) headers['Retry-After'] = String(exception.retryAfterSeconds);
  // A dependency down (or too slow) is expected to come back: say when to try again.
  else if (code === ErrorCode.Unavailable || code === ErrorCode.Timeout) headers['Retry-After'] = String(DEPENDENCY_RETRY_AFTER_SECONDS);
  return { problem, headers, isServerFault: status >= 500 };
}

interface Classified {
  code: ProblemCode;
  detail: string;
  errors?: Array<z.infer<typeof ProblemFieldErrorSchema>>;
  /** Extension members (RFC 9457 §3.2) of the problem type. */
  extensions?: Partial<Pick<Problem, 'quota' | 'limit' | 'used' | 'requested'>>;
}

function classify(exception: unknown, occurrence: ProblemOccurrence): Classified {
  if (exception instanceof GureumError) {
    // An internal error's message is for the log, never for the client.
    if (exception.code === ErrorCode.Internal) return { code: ErrorCode.Internal, detail: GENERIC_INTERNAL_DETAIL };
    if (exception.code === ErrorCode.QuotaExceeded) {
      const quota = QuotaExceededDetailsSchema.safeParse(exception.details);
      return { code: exception.code, detail: exception.message, ...(quota.success ? { extensions: quota.data } : {}) };
    }
    return { code: exception.code, detail: exception.message, errors: fieldErrorsOf(exception.details) };
  }
  if (exception instanceof RateLimitedError) return { code: HttpOnlyProblemCode.RateLimited, detail: exception.message };
  if (exception instanceof HttpException) return classifyHttpException(exception, occurrence);
  // The api's own database (or any socket) gone: the same answer a service behind NATS gives.
  if (isDependencyUnavailable(exception)) return { code: ErrorCode.Unavailable, detail: 'a dependency of the API is unavailable; retry shortly' };
  return { code: ErrorCode.Internal, detail: GENERIC_INTERNAL_DETAIL };
}

/**
 * HttpExceptions only come from Nest and Express themselves (we throw GureumError): the
 * router's 404, and body-parser failures that Nest's Express adapter wraps.
 */
function classifyHttpException(exception: HttpException, occurrence: ProblemOccurrence): Classified {
  const status = exception.getStatus();
  const cause = exception.cause;
  switch (status) {
    case 400:
      if (cause instanceof SyntaxError) return { code: ErrorCode.ValidationFailed, detail: 'the request body is not valid JSON' };
      return { code: ErrorCode.ValidationFailed, detail: messageOf(exception) };
    case 404:
      return { code: ErrorCode.NotFound, detail: `no route matches ${occurrence.method} ${occurrence.path}` };
    case 413:
      return { code: ErrorCode.PayloadTooLarge, detail: 'the request body is larger than the API accepts' };
    case 415:
      return { code: HttpOnlyProblemCode.UnsupportedMediaType, detail: messageOf(exception) };
    case 401:
      return { code: ErrorCode.Unauthenticated, detail: messageOf(exception) };
    case 403:
      return { code: ErrorCode.Forbidden, detail: messageOf(exception) };
    default:
      if (status >= 400 && status < 500) return { code: ErrorCode.ValidationFailed, detail: messageOf(exception) };
      return { code: ErrorCode.Internal, detail: GENERIC_INTERNAL_DETAIL };
  }
}

function messageOf(exception: HttpException): string {
  return exception.message || STATUS_CODES[exception.getStatus()] || 'request failed';
}

/** `validationError()` in contracts puts `{ issues: [{ path, message }] }` in details; remote services send the same. */
function fieldErrorsOf(details: Record<string, unknown> | undefined): Classified['errors'] {
  const parsed = z.object({ issues: z.array(ProblemFieldErrorSchema) }).safeParse(details);
  return parsed.success ? parsed.data.issues : undefined;
}
