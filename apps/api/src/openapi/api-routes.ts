import { WorkloadPageSchema, WorkloadSpecSchema, WorkloadViewSchema } from '@gureum/contracts';
import { z } from 'zod';
import { TENANT_READERS, TENANT_WRITERS } from '../auth/allow-roles.decorator';
import type { ApiKeyRole } from '../auth/principal';
import { HealthSchema } from '../health/health.controller';
import { ProblemSchema } from '../http/problem';
import { IDEMPOTENCY_KEY_HEADER, IdempotencyKeySchema, ListWorkloadsQuerySchema, WorkloadPathSchema } from '../workloads/workload-http.schemas';

/**
 * Every HTTP route of the api, described for the OpenAPI document with the same zod schemas
 * the controllers validate with. An integration test checks this list against the routes
 * Nest actually registered, in both directions.
 */

/** Request bodies, rendered as their input type (defaults optional). */
export const REQUEST_SCHEMAS = { WorkloadSpec: WorkloadSpecSchema } as const;
/** Response bodies, rendered as their output type. */
export const RESPONSE_SCHEMAS = {
  WorkloadView: WorkloadViewSchema,
  WorkloadPage: WorkloadPageSchema,
  Health: HealthSchema,
  Problem: ProblemSchema,
} as const;

export type HttpMethod = 'get' | 'post' | 'delete';

export interface ApiRoute {
  method: HttpMethod;
  /** OpenAPI path template (`{id}`), not Express syntax. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Null for public routes; otherwise who may call it. */
  roles: readonly ApiKeyRole[] | null;
  pathParams?: z.ZodObject;
  query?: z.ZodObject;
  headers?: ReadonlyArray<{ name: string; schema: z.ZodType; description: string }>;
  requestBody?: keyof typeof REQUEST_SCHEMAS;
  success: {
    status: number;
    description: string;
    /** `document` is the OpenAPI document itself, which has no zod schema of its own. */
    body: keyof typeof RESPONSE_SCHEMAS | 'document';
    headers?: Readonly<Record<string, string>>;
  };
  /** Problem statuses the route can answer with, besides the 500 every route can. */
  problems: readonly number[];
}

const AUTHENTICATED = [401, 403, 503, 504] as const;
const WITH_BODY = [400, 413, 415] as const;

export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'get',
    path: '/v1/health',
    operationId: 'getHealth',
    summary: 'Readiness: 200 when the database and NATS are reachable',
    tag: 'system',
    roles: null,
    success: { status: 200, description: 'Ready', body: 'Health' },
    problems: [503],
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    operationId: 'getOpenApiDocument',
    summary: 'This document',
    tag: 'system',
    roles: null,
    success: { status: 200, description: 'The OpenAPI 3.1 document of this API', body: 'document' },
    problems: [],
  },
  {
    method: 'post',
    path: '/v1/workloads',
    operationId: 'createWorkload',
    summary: 'Create a workload',
    tag: 'workloads',
    roles: TENANT_WRITERS,
    headers: [
      {
        name: IDEMPOTENCY_KEY_HEADER,
        schema: IdempotencyKeySchema,
        description: 'Retrying with the same key returns the first result instead of creating a second workload.',
      },
    ],
    requestBody: 'WorkloadSpec',
    success: { status: 201, description: 'Created', body: 'WorkloadView', headers: { Location: 'The URL of the new workload' } },
    problems: [...WITH_BODY, ...AUTHENTICATED, 409, 422],
  },
  {
    method: 'get',
    path: '/v1/workloads',
    operationId: 'listWorkloads',
    summary: "List the tenant's workloads, newest first",
    tag: 'workloads',
    roles: TENANT_READERS,
    query: ListWorkloadsQuerySchema,
    success: { status: 200, description: 'One page; pass nextCursor back as cursor for the next', body: 'WorkloadPage' },
    problems: [400, ...AUTHENTICATED],
  },
  {
    method: 'get',
    path: '/v1/workloads/{id}',
    operationId: 'getWorkload',
    summary: 'Get a workload',
    tag: 'workloads',
    roles: TENANT_READERS,
    pathParams: WorkloadPathSchema,
    success: { status: 200, description: 'The workload', body: 'WorkloadView' },
    problems: [400, ...AUTHENTICATED, 404],
  },
  {
    method: 'post',
    path: '/v1/workloads/{id}/stop',
    operationId: 'stopWorkload',
    summary: 'Stop a workload',
    tag: 'workloads',
    roles: TENANT_WRITERS,
    pathParams: WorkloadPathSchema,
    success: { status: 202, description: 'Accepted; the workload is stopping', body: 'WorkloadView' },
    problems: [...WITH_BODY, ...AUTHENTICATED, 404, 409],
  },
  {
    method: 'post',
    path: '/v1/workloads/{id}/start',
    operationId: 'startWorkload',
    summary: 'Start a stopped workload',
    tag: 'workloads',
    roles: TENANT_WRITERS,
    pathParams: WorkloadPathSchema,
    success: { status: 202, description: 'Accepted; the workload is starting', body: 'WorkloadView' },
    problems: [...WITH_BODY, ...AUTHENTICATED, 404, 409],
  },
  {
    method: 'delete',
    path: '/v1/workloads/{id}',
    operationId: 'deleteWorkload',
    summary: 'Delete a workload',
    tag: 'workloads',
    roles: TENANT_WRITERS,
    pathParams: WorkloadPathSchema,
    success: { status: 202, description: 'Accepted; the workload is being deleted', body: 'WorkloadView' },
    problems: [400, ...AUTHENTICATED, 404, 409],
  },
];
