/**
 * Shapes of the API answers the console reads. Workloads, usage and events come from the
 * contracts (type-only imports: nothing of them is bundled); the rest follows the agreed HTTP
 * surface (docs/console.md lists it), parts of which other services add.
 */
export type { UsageReply, UsageRow, WorkloadEventList, WorkloadEventView, WorkloadPage, WorkloadState, WorkloadStateChanged, WorkloadView } from '@gureum/contracts';

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

export type HostState = 'ready' | 'cordoned' | 'draining' | 'maintenance' | 'lost' | 'decommissioned';

export interface HostResources {
  cpuMillis: number;
  memoryMiB: number;
  pids: number;
}

export interface HostView {
  id: string;
  state: HostState;
  drivers: string[];
  labels: Record<string, string>;
  capacity: HostResources;
  allocated: HostResources;
  workloadCount: number;
  drain: { total: number; remaining: number; done: boolean } | null;
  lastHeartbeatAt: string;
}

export interface TenantView {
  id: string;
  name: string;
  status: 'active' | 'suspended';
  createdAt: string;
}

export interface CreatedTenant {
  tenant: TenantView;
  ownerApiKey: { id: string; apiKey: string };
  ownerUser?: { id: string; login: string; initialPassword?: string };
}

export interface QuotaNumbers {
  cpuMillis: number;
  memoryMiB: number;
  workloads: number;
  vms: number;
}

export interface Quotas {
  limits: QuotaNumbers;
  used: QuotaNumbers;
}

export interface BillingSummary {
  currency: string;
  periodStart: string;
  periodEnd: string;
  revenue: string;
  tenants: number;
}

/** Plans and invoices are the billing service's; the console shows the fields it knows and tolerates more. */
export interface Plan {
  id: string;
  name?: string;
  currency?: string;
  [field: string]: unknown;
}

export interface Invoice {
  id: string;
  tenantId?: string;
  status?: string;
  state?: string;
  currency?: string;
  total?: string;
  periodStart?: string;
  periodEnd?: string;
  [field: string]: unknown;
}

export interface AuditEntry {
  id: string;
  at: string;
  principalId: string | null;
  principalKind: string | null;
  role: string | null;
  tenantId: string | null;
  action: string;
  target: string | null;
  result: 'success' | 'failure';
  status: number;
  requestId: string;
  sourceAddress: string | null;
}

export interface ImageRepository {
  tenantId?: string;
  repository?: string;
  name?: string;
  tags?: string[];
  bytes?: number;
  [field: string]: unknown;
}
