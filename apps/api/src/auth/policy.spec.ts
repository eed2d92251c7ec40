import { API_ROUTES } from '../openapi/api-routes';
import { assertEveryRouteHasPolicy, openApiPath, policyOf } from './policy';

describe('the policy table', () => {
  it('finds a route by Express method and path', () => {
    expect(openApiPath('/v1/workloads/:id/stop')).toBe('/v1/workloads/{id}/stop');
    expect(policyOf('post', '/v1/workloads/:id/stop')?.operationId).toBe('stopWorkload');
    expect(policyOf('GET', '/v1/workloads/:id/stop')).toBeUndefined();
  });

  it('refuses to start when a registered route has no entry, naming it', () => {
    const registered = API_ROUTES.map((route) => ({ method: route.method, path: route.path.replace(/\{([a-z]+)\}/g, ':$1') }));
    expect(() => assertEveryRouteHasPolicy(registered)).not.toThrow();
    expect(() => assertEveryRouteHasPolicy([...registered, { method: 'post', path: '/v1/backdoor' }])).toThrow(/POST \/v1\/backdoor/);
  });

  it('gives every route an explicit decision: public, or a non-empty list of roles', () => {
    for (const route of API_ROUTES) expect({ route: route.operationId, ok: route.roles === null || route.roles.length > 0 }).toEqual({ route: route.operationId, ok: true });
    const publicRoutes = API_ROUTES.filter((route) => route.roles === null).map((route) => route.operationId);
    expect(publicRoutes.sort()).toEqual(['getHealth', 'getOpenApiDocument', 'login', 'refreshSession']);
  });
});
