import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { parseOrThrow } from '@gureum/contracts';
import { IDEMPOTENCY_KEY_HEADER, IdempotencyKeySchema } from './workload-http.schemas';
import type { HttpRequest } from '../http/http-context';

/** The optional `Idempotency-Key` header, validated; passed through to the service that dedupes on it. */
export const IdempotencyKey = createParamDecorator((_data: unknown, execution: ExecutionContext): string | undefined => {
  const header = execution.switchToHttp().getRequest<HttpRequest>().headers[IDEMPOTENCY_KEY_HEADER.toLowerCase()];
  if (header === undefined) return undefined;
  return parseOrThrow(IdempotencyKeySchema, header, `${IDEMPOTENCY_KEY_HEADER} header`);
});
