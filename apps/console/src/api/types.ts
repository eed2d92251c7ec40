/**
 * Shapes of the API answers the console reads: the contracts' own types wherever the answer is
 * a contract schema (type-only imports: nothing of them is bundled); tenants and audit entries
 * mirror the api's HTTP schemas (`apps/api/src/tenants`, `apps/api/src/audit`).
 */
export type { UsageReply, UsageRow, WorkloadEventList, WorkloadEventView, WorkloadPage, WorkloadState, WorkloadStateChanged, WorkloadView } from '@gureum/contracts';

export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

/** Hosts, quotas, billing, registry and VM migration: the contracts' own types (type-only). */
export type {
  BillingSummary,
  CreditNoteView,
  DrainProgress,
  GcReport,
  HostList,
  HostStateChanged,
  HostStateName as HostState,
  HostView,
  ImageList,
  ImageRepository,
  InvoiceList,
  InvoiceSummary as Invoice,
  InvoiceView,
  MigrationView,
  PlanAssignment,
  PlanInput,
  PlanView as Plan,
  QuotaOverrides,
  QuotaView as Quotas,
} from '@gureum/contracts';

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

