import { ErrorCode, GureumError, isDependencyUnavailable, unavailableFrom } from './errors';

describe('isDependencyUnavailable', () => {
  const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

  it.each([
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['a reset connection', withCode('read ECONNRESET', 'ECONNRESET')],
    ['PostgreSQL shutting down (57P01)', withCode('terminating connection due to administrator command', '57P01')],
    ['PostgreSQL starting up (57P03)', withCode('the database system is starting up', '57P03')],
    ['a connection exception (08006)', withCode('connection failure', '08006')],
    ['too many connections (53300)', withCode('sorry, too many clients already', '53300')],
    ['node-postgres losing its socket', new Error('Connection terminated unexpectedly')],
    ['the pool timing out', new Error('timeout exceeded when trying to connect')],
    ['TypeORM wrapping the driver error', Object.assign(new Error('query failed'), { driverError: withCode('x', '57P01') })],
    ['a cause chain', new Error('create failed', { cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED') })],
    ['an AggregateError of both loopback addresses', Object.assign(new AggregateError([withCode('a', 'ECONNREFUSED'), withCode('b', 'ECONNREFUSED')]), { code: undefined })],
    ['a typed unavailable', new GureumError(ErrorCode.Unavailable, 'no service is answering')],
  ])('recognises %s', (_what, error) => {
    expect(isDependencyUnavailable(error)).toBe(true);
  });

  it.each([
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a bad query (42601)', withCode('syntax error', '42601')],
    ['a constraint violation (23505)', withCode('duplicate key value', '23505')],
    ['a typed internal error', new GureumError(ErrorCode.Internal, 'connection terminated? no: a bug')],
    ['not an error', 'ECONNREFUSED'],
    ['null', null],
  ])('does not take %s for an outage', (_what, error) => {
    expect(isDependencyUnavailable(error)).toBe(false);
  });

  it('stops on a cycle of causes', () => {
    const a: { cause?: unknown } = {};
    const b = { cause: a };
    a.cause = b;
    expect(isDependencyUnavailable(a)).toBe(false);
  });

  it('gives a typed unavailable that does not leak the address, keeping the cause', () => {
    const cause = withCode('connect ECONNREFUSED 10.0.0.5:5432', 'ECONNREFUSED');
    const error = unavailableFrom(cause, 'the database');
    expect(error).toBeInstanceOf(GureumError);
    expect(error?.toWire()).toEqual({ code: 'unavailable', message: 'the database is unavailable; retry shortly' });
    expect(error?.cause).toBe(cause);
    expect(unavailableFrom(new Error('bug'))).toBeNull();
  });
});
