import type { ArgumentsHost } from '@nestjs/common';
import { ErrorCode, GureumError, type WireError } from '@gureum/contracts';
import type { Logger } from 'pino';
import { firstValueFrom } from 'rxjs';
import { RpcErrorFilter } from './nest';

function hostOf(subject: string): ArgumentsHost {
  return { getType: () => 'rpc', switchToRpc: () => ({ getContext: () => ({ getSubject: () => subject }) }) } as unknown as ArgumentsHost;
}

async function wireOf(exception: unknown): Promise<{ wire: WireError; logged: string[] }> {
  const logged: string[] = [];
  const logger = { error: () => logged.push('error'), warn: () => logged.push('warn') } as unknown as Logger;
  const wire = await firstValueFrom(new RpcErrorFilter(logger).catch(exception, hostOf('scheduler.cmd.workload.create.v1'))).then(
    () => {
      throw new Error('the filter must answer with an error');
    },
    (error: unknown) => error as WireError,
  );
  return { wire, logged };
}

describe('RpcErrorFilter', () => {
  it('answers the database being down with a typed unavailable, logged as a warning without internals (issue 21)', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:56443'), { code: 'ECONNREFUSED' });
    const { wire, logged } = await wireOf(refused);
    expect(wire.code).toBe(ErrorCode.Unavailable);
    expect(wire.message).not.toMatch(/127\.0\.0\.1|56443/);
    expect(logged).toEqual(['warn']);
  });

  it('keeps a bug internal and logs it as an error', async () => {
    const { wire, logged } = await wireOf(new TypeError('x is undefined'));
    expect(wire).toEqual({ code: ErrorCode.Internal, message: 'internal error' });
    expect(logged).toEqual(['error']);
  });

  it('passes a GureumError through as it is', async () => {
    const { wire } = await wireOf(new GureumError(ErrorCode.Conflict, 'taken', { key: 'k' }));
    expect(wire).toEqual({ code: ErrorCode.Conflict, message: 'taken', details: { key: 'k' } });
  });
});
