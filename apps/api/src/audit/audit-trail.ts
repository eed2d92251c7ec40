import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { policyOf } from '../auth/policy';
import { contextOf, type HttpRequest, type HttpResponse } from '../http/http-context';
import { AuditEntry } from './audit-entry.entity';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Records every mutating call on a route of the policy table, whatever its outcome (refused
 * at the door included), once the response is done. Only ids and codes are written, never a
 * body or header, so no secret can end up here.
 */
export function auditMiddleware(dataSource: DataSource, logger: Logger) {
  return (request: HttpRequest, response: HttpResponse, next: () => void): void => {
    if (READ_METHODS.has(request.method ?? 'GET')) {
      next();
      return;
    }
    response.once('finish', () => {
      const policy = request.route ? policyOf(request.method ?? '', request.route.path) : undefined;
      if (!policy) return; // no route matched: nothing was acted on
      const context = contextOf(request);
      const principal = context.principal;
      const status = response.statusCode;
      const entry: Partial<AuditEntry> = {
        at: new Date(),
        principalId: principal?.principalId ?? null,
        principalKind: principal?.kind ?? null,
        role: principal?.role ?? null,
        tenantId: context.auditTenantId ?? principal?.tenantId ?? null,
        action: policy.operationId,
        target: context.auditTarget ?? targetFromParams(policy.path, request.params),
        result: status < 400 ? 'success' : 'failure',
        status,
        requestId: context.requestId,
        sourceAddress: request.socket.remoteAddress ?? null,
      };
      dataSource
        .getRepository(AuditEntry)
        .insert(entry)
        .catch((error: unknown) => logger.error({ err: error, requestId: context.requestId, action: entry.action }, 'could not write the audit entry'));
    });
    next();
  };
}

/** `/v1/workloads/{id}` + `{ id }` → `workloads:<id>`. */
function targetFromParams(path: string, params: Record<string, string> | undefined): string | null {
  const id = params?.['id'];
  if (!id) return null;
  const resource = path.split('/').filter((part) => part && !part.startsWith('{'))[1] ?? 'object';
  return `${resource}:${id.slice(0, 64)}`;
}
