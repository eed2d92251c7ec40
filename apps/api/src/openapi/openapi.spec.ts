import { WorkloadSpecSchema } from '@gureum/contracts';
import { API_ROUTES } from './api-routes';
import { buildOpenApiDocument } from './openapi';

function collectRefs(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) collectRefs(item, into);
  else if (value && typeof value === 'object') {
    for (const [key, nested] of Object.entries(value)) {
      if (key === '$ref' && typeof nested === 'string') into.push(nested);
      else collectRefs(nested, into);
    }
  }
  return into;
}

function resolve(document: object, ref: string): unknown {
  return ref
    .replace(/^#\//, '')
    .split('/')
    .reduce<unknown>((node, part) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), document);
}

describe('OpenAPI document', () => {
  const document = buildOpenApiDocument();

  it('is OpenAPI 3.1 with one operation per catalogued route', () => {
    expect(document.openapi).toBe('3.1.0');
    const operations = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`));
    expect(operations.sort()).toEqual(API_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    expect(new Set(API_ROUTES.map((r) => r.operationId)).size).toBe(API_ROUTES.length);
  });

  it('documents 503 unavailable with Retry-After on every route: any route can find a dependency down (issue 21)', () => {
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods as Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>)) {
        expect({ route: `${method} ${path}`, headers: Object.keys(operation.responses['503']?.headers ?? {}) }).toEqual({ route: `${method} ${path}`, headers: expect.arrayContaining(['Retry-After']) });
      }
    }
  });

  it('has no dangling $ref', () => {
    const refs = collectRefs(document);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect({ ref, target: resolve(document, ref) }).toEqual({ ref, target: expect.anything() });
  });

  it('renders the request body from the contract schema, input side, unknown fields forbidden', () => {
    type Variant = { required: string[]; additionalProperties: boolean; properties: Record<string, { required?: string[]; const?: string }> };
    const union = document.components.schemas['WorkloadSpec'] as { oneOf?: Variant[]; anyOf?: Variant[] };
    const variants = union.oneOf ?? union.anyOf ?? [];
    // One variant per kind, each closed: a container spec and a VM spec.
    expect(variants.map((variant) => variant.properties['kind']!.const).sort()).toEqual(['container', 'vm']);
    const spec = variants.find((variant) => variant.properties['kind']!.const === 'container')!;
    expect(spec.additionalProperties).toBe(false);
    expect(spec.required.sort()).toEqual(['image', 'kind', 'name', 'resources']);
    // pids has a default, so a client may leave it out.
    expect(spec.properties['resources']!.required).toEqual(['cpuMillis', 'memoryMiB']);
    const container = WorkloadSpecSchema.options.find((option) => option.shape.kind.value === 'container')!;
    expect(Object.keys(spec.properties).sort()).toEqual(Object.keys(container.shape).sort());
    const vm = variants.find((variant) => variant.properties['kind']!.const === 'vm')!;
    expect(vm.additionalProperties).toBe(false);
    expect(vm.required.sort()).toEqual(['image', 'kind', 'name', 'resources', 'vm']);
  });

  it('declares bearer auth on tenant routes and none on public ones', () => {
    for (const route of API_ROUTES) {
      const operation = document.paths[route.path]![route.method] as { security: unknown[]; responses: Record<string, { content?: Record<string, unknown> }> };
      expect(operation.security).toEqual(route.roles ? [{ apiKey: [] }] : []);
      if (route.roles) expect(operation.responses['401']!.content).toHaveProperty(['application/problem+json']);
      expect(operation.responses['500']!.content).toHaveProperty(['application/problem+json']);
    }
  });

  it('documents path and query parameters from the validation schemas', () => {
    const get = document.paths['/v1/workloads/{id}']!['get'] as { parameters: Array<{ name: string; in: string; required: boolean }> };
    expect(get.parameters).toContainEqual(expect.objectContaining({ name: 'id', in: 'path', required: true }));
    const list = document.paths['/v1/workloads']!['get'] as { parameters: Array<{ name: string; in: string; required: boolean; schema: Record<string, unknown> }> };
    expect(list.parameters).toContainEqual(expect.objectContaining({ name: 'limit', in: 'query', required: false, schema: expect.objectContaining({ minimum: 1, maximum: 500 }) }));
    expect(list.parameters).toContainEqual(expect.objectContaining({ name: 'cursor', in: 'query', required: false }));
  });
});
