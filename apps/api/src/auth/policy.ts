import { API_ROUTES, type ApiRoute } from '../openapi/api-routes';

/**
 * The policy table is API_ROUTES: every route's roles live there, next to its OpenAPI
 * description, so one list says both what a route is and who may call it.
 */

/** Express path syntax (`/v1/workloads/:id`) → OpenAPI syntax (`/v1/workloads/{id}`). */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const byKey = new Map(API_ROUTES.map((route) => [`${route.method.toUpperCase()} ${route.path}`, route]));

export function policyOf(method: string, expressPath: string): ApiRoute | undefined {
  return byKey.get(`${method.toUpperCase()} ${openApiPath(expressPath)}`);
}

/** Called at boot with the routes Express registered: a route without an entry stops the app. */
export function assertEveryRouteHasPolicy(registered: ReadonlyArray<{ method: string; path: string }>): void {
  const missing = registered.filter((route) => !policyOf(route.method, route.path)).map((route) => `${route.method.toUpperCase()} ${route.path}`);
  if (missing.length > 0) throw new Error(`routes without a policy entry in API_ROUTES (refusing to start): ${missing.join(', ')}`);
}

/** Every (method, path) the Express router holds. */
export function registeredExpressRoutes(expressApp: unknown): Array<{ method: string; path: string }> {
  type Layer = { route?: { path: string; methods: Record<string, boolean> } };
  const router = (expressApp as { router?: { stack: Layer[] } }).router;
  if (!router) throw new Error('cannot read the Express router to check route policies');
  return router.stack.flatMap((layer) =>
    layer.route ? Object.keys(layer.route.methods).filter((method) => method !== '_all').map((method) => ({ method, path: layer.route!.path })) : [],
  );
}
