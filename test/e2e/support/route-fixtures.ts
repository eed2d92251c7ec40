import { randomBytes, randomUUID } from 'node:crypto';
import { ApiClient, containerSpec } from './api-client';

/**
 * How to call each route of the api for the isolation matrix, keyed by operationId. The
 * matrix itself (who gets which status) is computed from the roles the api publishes for
 * each route; this file only knows how to build a valid request, creating fresh objects of
 * tenant A where a call consumes one. A route the api serves without an entry here fails the
 * matrix test.
 */

export interface MatrixWorld {
  operator: ApiClient;
  ownerA: ApiClient;
  tenantAId: string;
  /** A workload of tenant A that stays, for reads. */
  workloadAId: string;
  userALogin: string;
  password: string;
}

export interface PreparedCall {
  path: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  /**
   * What an allowed caller gets when it is not the route's success status. Only logout, which
   * needs a session: with an API key (every matrix caller) it is a 400 after the guard passed.
   */
  allowedStatus?: number;
}

export type Fixture = (world: MatrixWorld) => Promise<PreparedCall>;

/** The kept workload once its container runs (its log exists only then). */
async function runningWorkloadOfA(world: MatrixWorld): Promise<string> {
  for (let attempt = 0; attempt < 60; attempt += 1) {
    const res = await world.ownerA.getWorkload(world.workloadAId);
    if (res.status === 200 && res.body.state === 'running') return world.workloadAId;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`fixture: workload ${world.workloadAId} never ran`);
}

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

async function expectCreated<T>(promise: Promise<{ status: number; body: unknown }>, what: string): Promise<T> {
  const res = await promise;
  if (res.status !== 201) throw new Error(`fixture: creating ${what} answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as T;
}

async function freshTenant(world: MatrixWorld): Promise<string> {
  const created = await expectCreated<{ tenant: { id: string } }>(world.operator.call('POST', '/v1/tenants', { name: unique('mx') }), 'tenant');
  return created.tenant.id;
}

async function freshUserOfA(world: MatrixWorld): Promise<string> {
  return (await expectCreated<{ id: string }>(world.ownerA.call('POST', '/v1/users', { login: unique('user'), role: 'viewer' }), 'user')).id;
}

async function freshWorkloadOfA(world: MatrixWorld): Promise<string> {
  return (await expectCreated<{ id: string }>(world.ownerA.createWorkload(smallContainer(unique('wl'))), 'workload')).id;
}

export function smallContainer(name: string): Record<string, unknown> {
  return containerSpec(name, { resources: { cpuMillis: 10, memoryMiB: 16, pids: 16 } });
}

export const FIXTURES: Record<string, Fixture> = {
  getHealth: async () => ({ path: {} }),
  getOpenApiDocument: async () => ({ path: {} }),
  login: async (world) => ({ path: {}, body: { login: world.userALogin, password: world.password } }),
  refreshSession: async (world) => {
    // A user of its own per call, so the per-login rate limit of the login route is not what is measured.
    const login = unique('refresher');
    const user = await expectCreated<{ signInAs: string }>(world.ownerA.call('POST', '/v1/users', { login, role: 'viewer', password: world.password }), 'user');
    // Invited logins are unique per tenant: the user signs in as `<tenant>/<login>`.
    const tokens = await new ApiClient(world.ownerA.baseUrl, null).call<{ refreshToken: string }>('POST', '/v1/auth/login', { login: user.signInAs, password: world.password });
    return { path: {}, body: { refreshToken: tokens.body.refreshToken } };
  },
  logout: async () => ({ path: {}, allowedStatus: 400 }),
  getMe: async () => ({ path: {} }),
  createTenant: async () => ({ path: {}, body: { name: unique('mx') } }),
  listTenants: async () => ({ path: {} }),
  getTenant: async (world) => ({ path: { id: world.tenantAId } }),
  suspendTenant: async (world) => ({ path: { id: await freshTenant(world) } }),
  resumeTenant: async (world) => ({ path: { id: await freshTenant(world) } }),
  deleteTenant: async (world) => ({ path: { id: await freshTenant(world) } }),
  listUsers: async () => ({ path: {} }),
  inviteUser: async () => ({ path: {}, body: { login: unique('invitee'), role: 'member' } }),
  changeUserRole: async (world) => ({ path: { id: await freshUserOfA(world) }, body: { role: 'member' } }),
  removeUser: async (world) => ({ path: { id: await freshUserOfA(world) } }),
  listApiKeys: async () => ({ path: {} }),
  createApiKey: async () => ({ path: {}, body: { name: 'matrix', role: 'viewer' } }),
  revokeApiKey: async (world) => {
    const key = await expectCreated<{ id: string }>(world.ownerA.call('POST', '/v1/api-keys', { name: 'to revoke', role: 'viewer' }), 'API key');
    return { path: { id: key.id } };
  },
  listTenantAudit: async () => ({ path: {} }),
  listAudit: async () => ({ path: {} }),
  createWorkload: async () => ({ path: {}, body: smallContainer(unique('created')) }),
  listWorkloads: async () => ({ path: {} }),
  getWorkload: async (world) => ({ path: { id: world.workloadAId } }),
  stopWorkload: async (world) => ({ path: { id: await freshWorkloadOfA(world) } }),
  startWorkload: async (world) => ({ path: { id: await freshWorkloadOfA(world) } }),
  deleteWorkload: async (world) => ({ path: { id: await freshWorkloadOfA(world) } }),
  // `mx/` is no tenant's namespace: an allowed caller passes the guard and is refused by the
  // namespace check (403, registry-images.e2e covers a commit that succeeds); another tenant's
  // owner still gets 404 for the workload, a viewer 403 from the guard.
  commitWorkload: async (world) => ({ path: { id: world.workloadAId }, body: { repository: 'mx/app', tag: '1' }, allowedStatus: 403 }),
  // A JSON body is not a build context (400); there is no build of A to read in the matrix (404).
  createBuild: async () => ({ path: {}, query: { repository: 'mx/app' }, body: {}, allowedStatus: 400 }),
  getBuild: async () => ({ path: { id: randomUUID() }, allowedStatus: 404 }),
  getBuildLog: async () => ({ path: { id: randomUUID() }, allowedStatus: 404 }),
  getUsage: async () => ({ path: {}, query: lastHour() }),
  getUsageAcrossTenants: async () => ({ path: {}, query: lastHour() }),
  // --- compute quotas and placement ---
  getOwnQuotas: async () => ({ path: {} }),
  getTenantQuotas: async (world) => ({ path: { id: world.tenantAId } }),
  setTenantQuotas: async (world) => ({ path: { id: await freshTenant(world) }, body: { workloads: 50 } }),
  explainPlacement: async (world) => ({ path: { id: world.workloadAId } }),
  listImages: async () => ({ path: {} }),
  // Hosts. The system's one host must stay ready for the other fixtures: reads and an
  // (idempotent) uncordon use it; the state-changing actions target a host that does not
  // exist, which an operator gets as 404 after the guard let it through.
  listHosts: async () => ({ path: {} }),
  getHost: async (world) => ({ path: { id: await someHostId(world) } }),
  uncordonHost: async (world) => ({ path: { id: await someHostId(world) } }),
  cordonHost: async () => ({ path: { id: 'mx-no-such-host' }, allowedStatus: 404 }),
  drainHost: async () => ({ path: { id: 'mx-no-such-host' }, allowedStatus: 404 }),
  maintainHost: async () => ({ path: { id: 'mx-no-such-host' }, allowedStatus: 404 }),
  decommissionHost: async () => ({ path: { id: 'mx-no-such-host' }, allowedStatus: 404 }),
  createJoinToken: async () => ({ path: {}, body: { ttlSeconds: 300 } }),
  // VM routes (vm helper): the matrix runs a docker agent only, so they are called on tenant A's
  // container, which an allowed caller gets a 409 for ("a container, not a VM") after the guard.
  getContainerLogs: async (world) => ({ path: { id: await runningWorkloadOfA(world) }, query: { tail: '0' } }),
  getVmConsole: async (world) => ({ path: { id: world.workloadAId }, allowedStatus: 409 }),
  pauseVm: async (world) => ({ path: { id: world.workloadAId }, allowedStatus: 409 }),
  resumeVm: async (world) => ({ path: { id: world.workloadAId }, allowedStatus: 409 }),
  createVmSnapshot: async (world) => ({ path: { id: world.workloadAId }, body: { name: 's1' }, allowedStatus: 409 }),
  listVmSnapshots: async (world) => ({ path: { id: world.workloadAId }, allowedStatus: 409 }),
  restoreVmSnapshot: async (world) => ({ path: { id: world.workloadAId, name: 's1' }, allowedStatus: 409 }),
  deleteVmSnapshot: async (world) => ({ path: { id: world.workloadAId, name: 's1' }, allowedStatus: 409 }),
  saveVmSnapshotTemplate: async (world) => ({ path: { id: world.workloadAId, name: 's1' }, body: { repository: 'mx/tpl', tag: '1' }, allowedStatus: 409 }),
  migrateVm: async (world) => ({ path: { id: world.workloadAId }, body: { mode: 'live' }, allowedStatus: 409 }),
  // Admin console routes.
  listWorkloadsAcrossTenants: async (world) => ({ path: {}, query: { tenantId: world.tenantAId } }),
  getWorkloadOfAnyTenant: async (world) => ({ path: { id: world.workloadAId } }),
  listWorkloadEventsOfAnyTenant: async (world) => ({ path: { id: world.workloadAId } }),
  listWorkloadEvents: async (world) => ({ path: { id: world.workloadAId } }),
  stopWorkloadOfAnyTenant: async (world) => ({ path: { id: await freshWorkloadOfA(world) } }),
  startWorkloadOfAnyTenant: async (world) => ({ path: { id: await freshWorkloadOfA(world) } }),
  deleteWorkloadOfAnyTenant: async (world) => ({ path: { id: await freshWorkloadOfA(world) } }),
  // The stream stays open until maxSeconds: one second, so the matrix can read the whole answer.
  streamEvents: async () => ({ path: {}, query: { maxSeconds: '1' } }),
  // Billing: tenant A is put on a plan three hours back, so billing has finalised invoices of its past hours.
  listPlans: async () => ({ path: {} }),
  createPlan: async () => ({ path: {}, body: matrixPlan() }),
  assignPlan: async (world) => ({ path: { id: await freshTenant(world) }, body: { planId: await matrixPlanId(world) } }),
  listInvoices: async () => ({ path: {} }),
  getInvoice: async (world) => ({ path: { id: await finalisedInvoiceOfA(world) } }),
  getInvoiceCsv: async (world) => ({ path: { id: await finalisedInvoiceOfA(world) } }),
  getInvoicePdf: async (world) => ({ path: { id: await finalisedInvoiceOfA(world) } }),
  listInvoicesAcrossTenants: async (world) => ({ path: {}, query: { tenantId: world.tenantAId } }),
  finalizeInvoice: async (world) => ({ path: { id: await finalisedInvoiceOfA(world) } }),
  // The past hours had no usage: a credit note has nothing left to correct (409, after the guard passed).
  createCreditNote: async (world) => ({ path: { id: await finalisedInvoiceOfA(world) }, body: { amount: '0.01', reason: 'matrix' }, allowedStatus: 409 }),
  getCost: async () => ({ path: {} }),
  grantCredits: async (world) => {
    await finalisedInvoiceOfA(world);
    return { path: { id: world.tenantAId }, body: { amount: '1.00' } };
  },
  getCredits: async () => ({ path: {} }),
  getBudget: async () => ({ path: {} }),
  setBudget: async () => ({ path: {}, body: { amount: '1000.00', alertThresholdsPercent: [80], hardLimit: false } }),
  getBillingSummary: async () => ({ path: {} }),
  // Operator views of the registry: tenant A's images; a collection with the configured grace period (harmless to the other fixtures).
  listTenantImages: async (world) => ({ path: {}, query: { tenantId: world.tenantAId } }),
  runRegistryGc: async () => ({ path: {}, body: {} }),
};

function matrixPlan(): Record<string, unknown> {
  return { name: unique('plan'), currency: 'USD', charges: [{ meter: 'vcpu_seconds', pricing: { model: 'per_unit', unitPrice: '0.00001' } }] };
}

let planId: Promise<string> | null = null;
function matrixPlanId(world: MatrixWorld): Promise<string> {
  planId ??= expectCreated<{ id: string }>(world.operator.call('POST', '/v1/admin/plans', matrixPlan()), 'plan').then((plan) => plan.id);
  return planId;
}

let invoiceOfA: Promise<string> | null = null;
function finalisedInvoiceOfA(world: MatrixWorld): Promise<string> {
  invoiceOfA ??= (async () => {
    const assigned = await world.operator.call('PUT', `/v1/admin/tenants/${world.tenantAId}/plan`, {
      planId: await matrixPlanId(world),
      effectiveFrom: new Date(Date.now() - 3 * 3600_000).toISOString(),
    });
    if (assigned.status !== 200) throw new Error(`fixture: assigning a plan answered ${assigned.status}: ${JSON.stringify(assigned.body)}`);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const page = await world.operator.call<{ items: Array<{ id: string; status: string }> }>('GET', `/v1/admin/invoices?tenantId=${world.tenantAId}`);
      const finalised = page.status === 200 ? page.body.items.find((invoice) => invoice.status === 'finalised') : undefined;
      if (finalised) return finalised.id;
      if (Date.now() > deadline) throw new Error(`fixture: no finalised invoice of tenant A after 60 s: ${JSON.stringify(page.body)}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
  return invoiceOfA;
}

function lastHour(): Record<string, string> {
  const to = new Date();
  return { from: new Date(to.getTime() - 3600_000).toISOString(), to: to.toISOString() };
}

async function someHostId(world: MatrixWorld): Promise<string> {
  const hosts = await world.operator.call<{ items: Array<{ id: string }> }>('GET', '/v1/admin/hosts');
  const first = hosts.body.items[0];
  if (hosts.status !== 200 || !first) throw new Error(`fixture: listing hosts answered ${hosts.status}: ${JSON.stringify(hosts.body)}`);
  return first.id;
}

export function fillPath(template: string, params: Record<string, string>, query?: Record<string, string>): string {
  const search = query ? `?${new URLSearchParams(query).toString()}` : '';
  return `${fillPathParams(template, params)}${search}`;
}

function fillPathParams(template: string, params: Record<string, string>): string {
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (_match, name: string) => {
    const value = params[name];
    if (!value) throw new Error(`fixture gives no value for {${name}} of ${template}`);
    return encodeURIComponent(value);
  });
}

export { randomUUID };
