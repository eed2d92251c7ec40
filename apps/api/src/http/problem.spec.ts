import { BadRequestException, HttpException, NotFoundException, UnsupportedMediaTypeException } from '@nestjs/common';
import { ErrorCode, GureumError, parseOrThrow, WorkloadSpecSchema, type ErrorCode as ErrorCodeType } from '@gureum/contracts';
import { ProblemSchema, toProblem } from './problem';

const occurrence = { method: 'POST', path: '/v1/workloads', requestId: 'req-1' };

describe('toProblem', () => {
  it.each<[ErrorCodeType, number]>([
    [ErrorCode.ValidationFailed, 400],
    [ErrorCode.Unauthenticated, 401],
    [ErrorCode.Forbidden, 403],
    [ErrorCode.NotFound, 404],
    [ErrorCode.Conflict, 409],
    [ErrorCode.InvalidState, 409],
    [ErrorCode.ImageUnknown, 422],
    [ErrorCode.ResourcesExceedHost, 422],
    [ErrorCode.QuotaExceeded, 403],
    [ErrorCode.PayloadTooLarge, 413],
    [ErrorCode.Unavailable, 503],
    [ErrorCode.Timeout, 504],
    [ErrorCode.Internal, 500],
  ])('maps %s to %i with a problem+json body', (code, status) => {
    const { problem, headers } = toProblem(new GureumError(code, 'something specific'), occurrence);
    expect(ProblemSchema.parse(problem)).toEqual(problem);
    expect(problem).toMatchObject({ type: `https://gureum.dev/problems/${code}`, status, code, instance: '/v1/workloads', requestId: 'req-1' });
    expect(headers['Content-Type']).toBe('application/problem+json');
  });

  it('covers every ErrorCode', () => {
    for (const code of Object.values(ErrorCode)) {
      expect(() => toProblem(new GureumError(code, 'x'), occurrence)).not.toThrow();
      expect(toProblem(new GureumError(code, 'x'), occurrence).problem.status).toBeGreaterThanOrEqual(400);
    }
  });

  it('names the quota, its limit, use and the request in a quota_exceeded problem', () => {
    const error = new GureumError(ErrorCode.QuotaExceeded, "the tenant's memoryMiB quota would be exceeded", { quota: 'memoryMiB', limit: 1024, used: 1000, requested: 64 });
    const { problem } = toProblem(error, occurrence);
    expect(ProblemSchema.parse(problem)).toEqual(problem);
    expect(problem).toMatchObject({ status: 403, code: 'quota_exceeded', quota: 'memoryMiB', limit: 1024, used: 1000, requested: 64 });
    expect(problem.errors).toBeUndefined();
  });

  it('answers a dependency that is down with 503 unavailable and Retry-After, whether a service said so or the api met it itself (issue 21)', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const shutdown = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    for (const exception of [new GureumError(ErrorCode.Unavailable, 'no service is answering'), refused, shutdown, new Error('Connection terminated unexpectedly')]) {
      const { problem, headers, isServerFault } = toProblem(exception, occurrence);
      expect(problem).toMatchObject({ status: 503, code: 'unavailable' });
      expect(problem.detail).not.toMatch(/5432|127\.0\.0\.1/);
      expect(Number(headers['Retry-After'])).toBeGreaterThan(0);
      expect(isServerFault).toBe(true);
    }
    expect(Number(toProblem(new GureumError(ErrorCode.Timeout, 'slow'), occurrence).headers['Retry-After'])).toBeGreaterThan(0);
    expect(toProblem(new GureumError(ErrorCode.Internal, 'bug'), occurrence).headers['Retry-After']).toBeUndefined();
    // A query that failed for its own reasons is a bug, not an outage.
    expect(toProblem(Object.assign(new Error('syntax error at or near "FROM"'), { code: '42601' }), occurrence).problem.code).toBe('internal');
  });

  it('asks for bearer credentials on 401 only', () => {
    expect(toProblem(new GureumError(ErrorCode.Unauthenticated, 'no key'), occurrence).headers['WWW-Authenticate']).toBe('Bearer realm="gureum"');
    expect(toProblem(new GureumError(ErrorCode.Forbidden, 'no'), occurrence).headers['WWW-Authenticate']).toBeUndefined();
  });

  it('keeps internals out of 500s and flags them as server faults', () => {
    const fromService = toProblem(new GureumError(ErrorCode.Internal, 'relation "scheduler.hosts" does not exist'), occurrence);
    const unknown = toProblem(new TypeError("Cannot read properties of undefined (reading 'password')"), occurrence);
    for (const { problem, isServerFault } of [fromService, unknown]) {
      expect(problem.status).toBe(500);
      expect(problem.code).toBe('internal');
      expect(problem.detail).not.toMatch(/scheduler|password|undefined/);
      expect(isServerFault).toBe(true);
    }
    expect(toProblem(new GureumError(ErrorCode.NotFound, 'x'), occurrence).isServerFault).toBe(false);
  });

  it('turns validation issues into errors[] naming each field', () => {
    let thrown: unknown;
    try {
      parseOrThrow(WorkloadSpecSchema, { name: 'web', kind: 'container', image: 'busybox', resources: { cpuMillis: 0, memoryMiB: 64 }, privileged: true }, 'workload spec');
    } catch (error) {
      thrown = error;
    }
    const { problem } = toProblem(thrown, occurrence);
    expect(problem.status).toBe(400);
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        { path: 'resources.cpuMillis', message: expect.any(String) },
        { path: '(root)', message: expect.stringContaining('privileged') },
      ]),
    );
  });

  it('omits errors[] when a remote error has no field issues', () => {
    expect(toProblem(new GureumError(ErrorCode.Conflict, 'name taken', { existingId: 'x' }), occurrence).problem.errors).toBeUndefined();
  });

  it('maps what Nest and Express raise themselves', () => {
    const notFound = toProblem(new NotFoundException('Cannot GET /v1/nope'), { ...occurrence, method: 'GET', path: '/v1/nope' }).problem;
    expect(notFound).toMatchObject({ status: 404, code: 'not_found', detail: 'no route matches GET /v1/nope' });

    const syntax = Object.assign(new SyntaxError('Unexpected token } in JSON at position 9'), { status: 400 });
    const malformed = toProblem(new BadRequestException(syntax.message, { cause: syntax }), occurrence).problem;
    expect(malformed).toMatchObject({ status: 400, code: 'validation_failed', detail: 'the request body is not valid JSON' });

    expect(toProblem(new HttpException('request entity too large', 413), occurrence).problem).toMatchObject({ status: 413, code: 'payload_too_large' });
    expect(toProblem(new UnsupportedMediaTypeException('must be JSON'), occurrence).problem).toMatchObject({
      status: 415,
      code: 'unsupported_media_type',
      type: 'https://gureum.dev/problems/unsupported_media_type',
    });
    expect(toProblem(new HttpException('boom', 502), occurrence).problem).toMatchObject({ status: 500, code: 'internal' });
  });
});
