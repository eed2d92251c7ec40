import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { PROBLEM_CONTENT_TYPE } from '../http/problem';
import { REQUEST_ID_HEADER } from '../http/http-context';
import { API_ROUTES, REQUEST_SCHEMAS, RESPONSE_SCHEMAS, type ApiRoute } from './api-routes';

/** A JSON Schema or OpenAPI object; its shape is OpenAPI's, not ours to type in full. */
type JsonObject = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  servers: Array<{ url: string }>;
  security: Array<Record<string, string[]>>;
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, Record<string, JsonObject>>;
  components: { schemas: Record<string, JsonObject>; securitySchemes: Record<string, JsonObject>; headers: Record<string, JsonObject> };
}

const SCHEMA_REF = (name: string) => `#/components/schemas/${name}`;
const BEARER = 'apiKey';

/** Builds the OpenAPI 3.1 document (whose schema dialect is JSON Schema 2020-12, zod's default target). */
export function buildOpenApiDocument(): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of API_ROUTES) {
    paths[route.path] ??= {};
    paths[route.path]![route.method] = operationOf(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gureum API',
      version: '1.0.0',
      description:
        'The tenant API of Gureum. Errors are RFC 9457 problem documents (application/problem+json) whose `code` is stable. ' +
        `Every response carries ${REQUEST_ID_HEADER}; send your own (at most 128 characters of [A-Za-z0-9._-]) to correlate.`,
    },
    servers: [{ url: '/' }],
    security: [{ [BEARER]: [] }],
    tags: [
      { name: 'workloads', description: 'Containers (and later VMs) of the calling tenant' },
      { name: 'system', description: 'Health and discovery; no authentication' },
    ],
    paths,
    components: {
      schemas: { ...componentSchemas(REQUEST_SCHEMAS, 'input'), ...componentSchemas(RESPONSE_SCHEMAS, 'output') },
      securitySchemes: {
        [BEARER]: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key, `grm_<prefix>_<secret>`, sent as `Authorization: Bearer <key>`. The tenant is the key\'s tenant.',
        },
      },
      headers: {
        [REQUEST_ID_HEADER]: { description: 'The request id, echoed or generated', schema: { type: 'string', maxLength: 128 } },
        'Retry-After': { description: 'Seconds after which the request may be retried (RFC 9110 §10.2.3)', schema: { type: 'integer', minimum: 1 } },
      },
    },
  };
}

/** Statuses answered with a Retry-After header: rate limited, a dependency down, a dependency too slow. */
const RETRY_AFTER_STATUSES = new Set([429, 503, 504]);

function operationOf(route: ApiRoute): JsonObject {
  const parameters = [
    ...parametersOf(route.pathParams, 'path'),
    ...parametersOf(route.query, 'query'),
    ...(route.headers ?? []).map((header) => ({
      name: header.name,
      in: 'header',
      required: false,
      description: header.description,
      schema: jsonSchemaOf(header.schema, 'input'),
    })),
    {
      name: REQUEST_ID_HEADER,
      in: 'header',
      required: false,
      schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
    },
  ];
  const responses: Record<string, JsonObject> = { [String(route.success.status)]: successResponseOf(route) };
  // Every route can fail (500) and can find a dependency down (503 `unavailable`, with Retry-After).
  for (const status of [...new Set([...route.problems, 500, 503])].sort((a, b) => a - b)) {
    responses[String(status)] = {
      description: STATUS_CODES[status] ?? 'Error',
      headers: RETRY_AFTER_STATUSES.has(status) ? { ...requestIdHeader(), 'Retry-After': { $ref: '#/components/headers/Retry-After' } } : requestIdHeader(),
      content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: SCHEMA_REF('Problem') } } },
    };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    ...(route.roles ? { description: `Roles: ${route.roles.join(', ')}.` } : {}),
    security: route.roles ? [{ [BEARER]: [] }] : [],
    // The authorization policy, machine-readable: clients and the e2e isolation matrix read it.
    'x-gureum-roles': route.roles,
    parameters,
    ...(route.requestBody
      ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: SCHEMA_REF(route.requestBody) } } } } }
      : {}),
    ...(route.binaryRequestBody
      ? { requestBody: { required: true, description: route.binaryRequestBody.description, content: { [route.binaryRequestBody.mediaType]: { schema: { type: 'string', format: 'binary' } } } } }
      : {}),
    responses,
  };
}

function successResponseOf(route: ApiRoute): JsonObject {
  const headers: Record<string, JsonObject> = requestIdHeader();
  for (const [name, description] of Object.entries(route.success.headers ?? {})) headers[name] = { description, schema: { type: 'string' } };
  if (route.success.body === 'none') return { description: route.success.description, headers };
  if (route.success.body === 'text') return { description: route.success.description, headers, content: { 'text/plain': { schema: { type: 'string' } } } };
  if (route.success.body === 'event-stream') {
    return { description: route.success.description, headers, content: { 'text/event-stream': { schema: { type: 'string', description: 'Server-sent events (WHATWG HTML)' } } } };
  }
  if (route.success.body === 'csv') return { description: route.success.description, headers, content: { 'text/csv': { schema: { type: 'string' } } } };
  if (route.success.body === 'pdf') return { description: route.success.description, headers, content: { 'application/pdf': { schema: { type: 'string', format: 'binary' } } } };
  const schema = route.success.body === 'document' ? { type: 'object', description: 'An OpenAPI 3.1 document' } : { $ref: SCHEMA_REF(route.success.body) };
  return { description: route.success.description, headers, content: { 'application/json': { schema } } };
}

function requestIdHeader(): Record<string, JsonObject> {
  return { [REQUEST_ID_HEADER]: { $ref: `#/components/headers/${REQUEST_ID_HEADER}` } };
}

function parametersOf(schema: z.ZodObject | undefined, location: 'path' | 'query'): JsonObject[] {
  if (!schema) return [];
  const json = jsonSchemaOf(schema, 'input') as { properties?: Record<string, JsonObject>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: location,
    // Path parameters are required by definition in OpenAPI, whatever the schema says.
    required: location === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}

function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonObject;
  return rest;
}

/** Named schemas go through a registry so that schemas nested in others become `$ref`s, not copies. */
function componentSchemas(schemas: Record<string, z.ZodType>, io: 'input' | 'output'): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const generated = z.toJSONSchema(registry, { io, uri: SCHEMA_REF, unrepresentable: 'any' }).schemas;
  const components: Record<string, JsonObject> = {};
  for (const [id, jsonSchema] of Object.entries(generated)) {
    const { $schema: _dialect, $id: _id, ...rest } = jsonSchema as JsonObject;
    components[id] = rest;
  }
  return components;
}
