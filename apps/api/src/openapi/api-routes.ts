import { UsageReplySchema, WorkloadEventListSchema, WorkloadPageSchema, WorkloadSpecSchema, WorkloadViewSchema } from '@gureum/contracts';
import { z } from 'zod';
import { ApiKeyListSchema, ApiKeyPathSchema, ApiKeyViewSchema, CreateApiKeyBodySchema, CreatedApiKeySchema } from '../apikeys/api-key-http.schemas';
import { AdminAuditQuerySchema, AuditPageSchema, TenantAuditQuerySchema } from '../audit/audit-http.schemas';
import { LoginBodySchema, MeSchema, RefreshBodySchema, TokensSchema } from '../auth/auth-http.schemas';
import type { ApiKeyRole } from '../auth/principal';
import { HealthSchema } from '../health/health.controller';
import { ProblemSchema } from '../http/problem';
import {
  CreatedTenantSchema,
  CreateTenantBodySchema,
  PageQuerySchema,
  TenantPageSchema,
  TenantPathSchema,
  TenantSuspensionSchema,
  TenantViewSchema,
} from '../tenants/tenant-http.schemas';
import { ChangeRoleBodySchema, InvitedUserSchema, InviteUserBodySchema, UserListSchema, UserPathSchema, UserViewSchema } from '../users/user-http.schemas';
import { AdminUsageQuerySchema, UsageQuerySchema } from '../usage/usage-http.schemas';
import { IDEMPOTENCY_KEY_HEADER, IdempotencyKeySchema, ListWorkloadsQuerySchema, WorkloadPathSchema } from '../workloads/workload-http.schemas';
import { AdminListWorkloadsQuerySchema } from '../admin-workloads/admin-workload-http.schemas';
import { EventStreamQuerySchema } from '../events/event-stream-http.schemas';

/**
 * Every HTTP route of the api: the OpenAPI description AND the authorization policy (`roles`),
 * in one table. The global AccessGuard enforces `roles`; the app refuses to start when Nest
 * registered a route that is not here; an integration test checks the list against the
 * registered routes in both directions, and the e2e isolation matrix is generated from it.
 */

export const OPERATORS = ['operator'] as const satisfies readonly ApiKeyRole[];
export const OWNERS = ['owner'] as const satisfies readonly ApiKeyRole[];
export const TENANT_READERS = ['owner', 'member', 'viewer'] as const satisfies readonly ApiKeyRole[];
export const TENANT_WRITERS = ['owner', 'member'] as const satisfies readonly ApiKeyRole[];
export const ANYONE_AUTHENTICATED = ['operator', 'owner', 'member', 'viewer'] as const satisfies readonly ApiKeyRole[];

/** Request bodies, rendered as their input type (defaults optional). */
export const REQUEST_SCHEMAS = {
  WorkloadSpec: WorkloadSpecSchema,
  CreateTenant: CreateTenantBodySchema,
  InviteUser: InviteUserBodySchema,
  ChangeRole: ChangeRoleBodySchema,
  CreateApiKey: CreateApiKeyBodySchema,
  Login: LoginBodySchema,
  Refresh: RefreshBodySchema,
} as const;
/** Response bodies, rendered as their output type. */
export const RESPONSE_SCHEMAS = {
  WorkloadView: WorkloadViewSchema,
  WorkloadPage: WorkloadPageSchema,
  Health: HealthSchema,
  Problem: ProblemSchema,
  Tenant: TenantViewSchema,
  TenantPage: TenantPageSchema,
  CreatedTenant: CreatedTenantSchema,
  TenantSuspension: TenantSuspensionSchema,
  User: UserViewSchema,
  InvitedUser: InvitedUserSchema,
  UserList: UserListSchema,
  ApiKey: ApiKeyViewSchema,
  CreatedApiKey: CreatedApiKeySchema,
  ApiKeyList: ApiKeyListSchema,
  Tokens: TokensSchema,
  Me: MeSchema,
  AuditPage: AuditPageSchema,
  Usage: UsageReplySchema,
  WorkloadEventList: WorkloadEventListSchema,
} as const;

export type HttpMethod = 'get' | 'post' | 'patch' | 'delete';

export interface ApiRoute {
  method: HttpMethod;
  /** OpenAPI path template (`{id}`), not Express syntax. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Null for public routes; otherwise who may call it. THE authorization policy of the route. */
  roles: readonly ApiKeyRole[] | null;
  /** Public routes that take credentials in the body (login, refresh): rate-limited and audited by themselves. */
  credentialsInBody?: true;
  pathParams?: z.ZodObject;
  query?: z.ZodObject;
  headers?: ReadonlyArray<{ name: string; schema: z.ZodType; description: string }>;
  requestBody?: keyof typeof REQUEST_SCHEMAS;
  success: {
    status: number;
    description: string;
    /** `document` is the OpenAPI document itself, which has no zod schema of its own. */
    body: keyof typeof RESPONSE_SCHEMAS | 'document' | 'none' | 'event-stream';
    headers?: Readonly<Record<string, string>>;
  };
  /** Problem statuses the route can answer with, besides the 500 every route can. */
  problems: readonly number[];
}

const AUTHENTICATED = [401, 403, 429, 503, 504] as const;
/** Writes of a suspended tenant are refused with 403 as well; same statuses. */
const AUTHENTICATED_WRITE = AUTHENTICATED;
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
  {
    method: 'get',
    path: '/v1/usage',
    operationId: 'getUsage',
    summary: "The tenant's metered usage from hourly rollups, per meter or per workload, by hour or UTC day",
    tag: 'usage',
    roles: TENANT_READERS,
    query: UsageQuerySchema,
    success: { status: 200, description: 'Usage rows; quantities are decimal strings', body: 'Usage' },
    problems: [400, ...AUTHENTICATED],
  },
  {
    method: 'get',
    path: '/v1/admin/usage',
    operationId: 'getUsageAcrossTenants',
    summary: "Every tenant's metered usage (or one tenant's), per meter or per workload, by hour or UTC day",
    tag: 'usage',
    roles: OPERATORS,
    query: AdminUsageQuerySchema,
    success: { status: 200, description: 'Usage rows; quantities are decimal strings', body: 'Usage' },
    problems: [400, ...AUTHENTICATED],
  },
  {
    method: 'post',
    path: '/v1/auth/login',
    operationId: 'login',
    summary: 'Log in with a password: a short-lived access token and a refresh token',
    tag: 'auth',
    roles: null,
    credentialsInBody: true,
    requestBody: 'Login',
    success: { status: 200, description: 'Logged in', body: 'Tokens' },
    problems: [...WITH_BODY, 401, 429],
  },
  {
    method: 'post',
    path: '/v1/auth/refresh',
    operationId: 'refreshSession',
    summary: 'Trade a refresh token for new tokens (both rotate; a refresh token works once)',
    tag: 'auth',
    roles: null,
    credentialsInBody: true,
    requestBody: 'Refresh',
    success: { status: 200, description: 'New tokens', body: 'Tokens' },
    problems: [...WITH_BODY, 401],
  },
  {
    method: 'post',
    path: '/v1/auth/logout',
    operationId: 'logout',
    summary: 'End the session of the access token used (revoked at once)',
    tag: 'auth',
    roles: ANYONE_AUTHENTICATED,
    success: { status: 204, description: 'Logged out', body: 'none' },
    problems: [...AUTHENTICATED_WRITE],
  },
  {
    method: 'get',
    path: '/v1/me',
    operationId: 'getMe',
    summary: 'Who the credential belongs to',
    tag: 'auth',
    roles: ANYONE_AUTHENTICATED,
    success: { status: 200, description: 'The caller', body: 'Me' },
    problems: [...AUTHENTICATED],
  },
  {
    method: 'post',
    path: '/v1/tenants',
    operationId: 'createTenant',
    summary: 'Create a tenant with an owner API key (and optionally an owner user)',
    tag: 'tenants',
    roles: OPERATORS,
    requestBody: 'CreateTenant',
    success: { status: 201, description: 'Created; the key (and a generated password) are shown only here', body: 'CreatedTenant' },
    problems: [...WITH_BODY, ...AUTHENTICATED_WRITE, 409],
  },
  {
    method: 'get',
    path: '/v1/tenants',
    operationId: 'listTenants',
    summary: 'List tenants, oldest first',
    tag: 'tenants',
    roles: OPERATORS,
    query: PageQuerySchema,
    success: { status: 200, description: 'One page', body: 'TenantPage' },
    problems: [400, ...AUTHENTICATED],
  },
  {
    method: 'get',
    path: '/v1/tenants/{id}',
    operationId: 'getTenant',
    summary: 'Get a tenant',
    tag: 'tenants',
    roles: OPERATORS,
    pathParams: TenantPathSchema,
    success: { status: 200, description: 'The tenant', body: 'Tenant' },
    problems: [400, ...AUTHENTICATED, 404],
  },
  {
    method: 'post',
    path: '/v1/tenants/{id}/suspend',
    operationId: 'suspendTenant',
    summary: 'Suspend a tenant: its writes are refused at once and its running workloads stop',
    tag: 'tenants',
    roles: OPERATORS,
    pathParams: TenantPathSchema,
    success: { status: 200, description: 'Suspended', body: 'TenantSuspension' },
    problems: [...WITH_BODY, ...AUTHENTICATED_WRITE, 404],
  },
  {
    method: 'post',
    path: '/v1/tenants/{id}/resume',
    operationId: 'resumeTenant',
    summary: 'Resume a tenant: writes are allowed again and the workloads the suspension stopped restart',
    tag: 'tenants',
    roles: OPERATORS,
    pathParams: TenantPathSchema,
    success: { status: 200, description: 'Active again', body: 'TenantSuspension' },
    problems: [...WITH_BODY, ...AUTHENTICATED_WRITE, 404],
  },
  {
    method: 'delete',
    path: '/v1/tenants/{id}',
    operationId: 'deleteTenant',
    summary: 'Delete an empty tenant (no workloads left); its users, keys and sessions go with it',
    tag: 'tenants',
    roles: OPERATORS,
    pathParams: TenantPathSchema,
    success: { status: 204, description: 'Deleted', body: 'none' },
    problems: [400, ...AUTHENTICATED_WRITE, 404, 409],
  },
  {
    method: 'get',
    path: '/v1/users',
    operationId: 'listUsers',
    summary: "List the tenant's users",
    tag: 'users',
    roles: OWNERS,
    success: { status: 200, description: 'The users', body: 'UserList' },
    problems: [...AUTHENTICATED],
  },
  {
    method: 'post',
    path: '/v1/users',
    operationId: 'inviteUser',
    summary: 'Invite a user into the tenant with a role (a generated password is shown once)',
    tag: 'users',
    roles: OWNERS,
    requestBody: 'InviteUser',
    success: { status: 201, description: 'Invited', body: 'InvitedUser' },
    problems: [...WITH_BODY, ...AUTHENTICATED_WRITE, 409],
  },
  {
    method: 'patch',
    path: '/v1/users/{id}',
    operationId: 'changeUserRole',
    summary: "Change a user's role (the last owner cannot be demoted)",
    tag: 'users',
    roles: OWNERS,
    pathParams: UserPathSchema,
    requestBody: 'ChangeRole',
    success: { status: 200, description: 'Changed', body: 'User' },
    problems: [...WITH_BODY, ...AUTHENTICATED_WRITE, 404, 409],
  },
  {
    method: 'delete',
    path: '/v1/users/{id}',
    operationId: 'removeUser',
    summary: 'Remove a user from the tenant; their sessions end at once (not the last owner)',
    tag: 'users',
    roles: OWNERS,
    pathParams: UserPathSchema,
    success: { status: 204, description: 'Removed', body: 'none' },
    problems: [400, ...AUTHENTICATED_WRITE, 404, 409],
  },
  {
    method: 'get',
    path: '/v1/api-keys',
    operationId: 'listApiKeys',
    summary: "List the tenant's API keys (never their secrets)",
    tag: 'api-keys',
    roles: OWNERS,
    success: { status: 200, description: 'The keys', body: 'ApiKeyList' },
    problems: [...AUTHENTICATED],
  },
  {
    method: 'post',
    path: '/v1/api-keys',
    operationId: 'createApiKey',
    summary: 'Create an API key scoped to the tenant and one role, optionally expiring',
    tag: 'api-keys',
    roles: OWNERS,
    requestBody: 'CreateApiKey',
    success: { status: 201, description: 'Created; the key is shown only here', body: 'CreatedApiKey' },
    problems: [...WITH_BODY, ...AUTHENTICATED_WRITE],
  },
  {
    method: 'delete',
    path: '/v1/api-keys/{id}',
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key; it stops working at once',
    tag: 'api-keys',
    roles: OWNERS,
    pathParams: ApiKeyPathSchema,
    success: { status: 204, description: 'Revoked', body: 'none' },
    problems: [400, ...AUTHENTICATED_WRITE, 404],
  },
  {
    method: 'get',
    path: '/v1/audit',
    operationId: 'listTenantAudit',
    summary: "The tenant's audit trail, newest first",
    tag: 'audit',
    roles: OWNERS,
    query: TenantAuditQuerySchema,
    success: { status: 200, description: 'One page', body: 'AuditPage' },
    problems: [400, ...AUTHENTICATED],
  },
  {
    method: 'get',
    path: '/v1/admin/audit',
    operationId: 'listAudit',
    summary: 'The whole audit trail, newest first, with filters',
    tag: 'audit',
    roles: OPERATORS,
    query: AdminAuditQuerySchema,
    success: { status: 200, description: 'One page', body: 'AuditPage' },
    problems: [400, ...AUTHENTICATED],
  },
  // Admin console: workloads across tenants, workload history, live events.
  {
    method: 'get',
    path: '/v1/admin/workloads',
    operationId: 'listWorkloadsAcrossTenants',
    summary: "Every tenant's workloads, oldest first, filtered by tenant, host, state and kind",
    tag: 'workloads',
    roles: OPERATORS,
    query: AdminListWorkloadsQuerySchema,
    success: { status: 200, description: 'One page; pass nextCursor back as cursor for the next', body: 'WorkloadPage' },
    problems: [400, ...AUTHENTICATED],
  },
  {
    method: 'get',
    path: '/v1/admin/workloads/{id}',
    operationId: 'getWorkloadOfAnyTenant',
    summary: "Get any tenant's workload (deleted ones included)",
    tag: 'workloads',
    roles: OPERATORS,
    pathParams: WorkloadPathSchema,
    success: { status: 200, description: 'The workload', body: 'WorkloadView' },
    problems: [400, ...AUTHENTICATED, 404],
  },
  {
    method: 'get',
    path: '/v1/admin/workloads/{id}/events',
    operationId: 'listWorkloadEventsOfAnyTenant',
    summary: "Any tenant's workload's state transitions, oldest first",
    tag: 'workloads',
    roles: OPERATORS,
    pathParams: WorkloadPathSchema,
    success: { status: 200, description: 'The transitions (the latest 500)', body: 'WorkloadEventList' },
    problems: [400, ...AUTHENTICATED, 404],
  },
  {
    method: 'post',
    path: '/v1/admin/workloads/{id}/stop',
    operationId: 'stopWorkloadOfAnyTenant',
    summary: "Stop any tenant's workload (as its owner could)",
    tag: 'workloads',
    roles: OPERATORS,
    pathParams: WorkloadPathSchema,
    success: { status: 202, description: 'Accepted; the workload is stopping', body: 'WorkloadView' },
    problems: [...WITH_BODY, ...AUTHENTICATED, 404, 409],
  },
  {
    method: 'post',
    path: '/v1/admin/workloads/{id}/start',
    operationId: 'startWorkloadOfAnyTenant',
    summary: "Start any tenant's stopped workload (refused while the tenant is suspended)",
    tag: 'workloads',
    roles: OPERATORS,
    pathParams: WorkloadPathSchema,
    success: { status: 202, description: 'Accepted; the workload is starting', body: 'WorkloadView' },
    problems: [...WITH_BODY, ...AUTHENTICATED, 404, 409],
  },
  {
    method: 'delete',
    path: '/v1/admin/workloads/{id}',
    operationId: 'deleteWorkloadOfAnyTenant',
    summary: "Delete any tenant's workload",
    tag: 'workloads',
    roles: OPERATORS,
    pathParams: WorkloadPathSchema,
    success: { status: 202, description: 'Accepted; the workload is being deleted', body: 'WorkloadView' },
    problems: [400, ...AUTHENTICATED, 404, 409],
  },
  {
    method: 'get',
    path: '/v1/workloads/{id}/events',
    operationId: 'listWorkloadEvents',
    summary: "A workload's state transitions, oldest first",
    tag: 'workloads',
    roles: TENANT_READERS,
    pathParams: WorkloadPathSchema,
    success: { status: 200, description: 'The transitions (the latest 500)', body: 'WorkloadEventList' },
    problems: [400, ...AUTHENTICATED, 404],
  },
  {
    method: 'get',
    path: '/v1/events/stream',
    operationId: 'streamEvents',
    summary:
      'Live workload state changes (and host changes, for operators) as server-sent events: `event: workload|host`, `id` = stream sequence (send it back as Last-Event-ID to resume), JSON `data`; a heartbeat comment every 15 s. Tenants see only their own workloads.',
    tag: 'events',
    roles: ANYONE_AUTHENTICATED,
    query: EventStreamQuerySchema,
    success: { status: 200, description: 'An event stream, open until maxSeconds or the client disconnects', body: 'event-stream' },
    problems: [400, ...AUTHENTICATED],
  },
];
