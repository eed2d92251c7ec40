/**
 * NATS subjects of Gureum. THESE STRINGS ARE A PUBLIC, VERSIONED API: other services,
 * agents on compute nodes and operators' tooling depend on them. Never change a subject or
 * make an incompatible payload change in place; add a `.v2` subject and retire the old one.
 *
 * Shape: `<context>.<audience>.<entity>.<verb|event>.v<N>`. Subjects containing `*` are
 * node-scoped: the `*` is the node id, and NATS permissions confine an agent to its own.
 *
 * Every subject is bound to its payload schema here, so `bus.request(subject, payload)` and
 * `bus.publish(subject, payload)` do not compile with the wrong payload, and every receiver
 * validates with the same schema.
 */
import { z } from 'zod';
import {
  AssignmentsReplySchema,
  AssignmentsRequestSchema,
  HeartbeatSchema,
  ReconcileNudgeSchema,
  StatusReportReplySchema,
  StatusReportSchema,
} from './agent';
import {
  CreateWorkloadRequestSchema,
  ListWorkloadsRequestSchema,
  WorkloadPageSchema,
  WorkloadRefRequestSchema,
  WorkloadStateChangedSchema,
  WorkloadViewSchema,
} from './workload';
import { UsageQueryRequestSchema, UsageReplySchema, UsageSampleSchema, USAGE_STREAM } from './metering';
import { PrincipalSchema, PrincipalStatusRequestSchema, PrincipalStatusSchema, TenantDeletedSchema, TenantSuspensionReplySchema, TenantSuspensionRequestSchema, VerifyCredentialsRequestSchema } from './identity';
import {
  GcReportSchema,
  ImageDeletedSchema,
  ImagePushedSchema,
  RegistryStorageSampleSchema,
  RepositoryVisibilitySchema,
  RunGcRequestSchema,
  SetRepositoryVisibilityRequestSchema,
  SetStorageQuotaRequestSchema,
  StorageUsageSchema,
} from './registry';
import {
  ExplainPlacementRequestSchema,
  GetOwnQuotaRequestSchema,
  GetTenantQuotaRequestSchema,
  PlacementExplanationSchema,
  QuotaViewSchema,
  SetTenantQuotaRequestSchema,
} from './quota';
import { ImageListSchema, ListImagesRequestSchema } from './registry';
import {
  AdmissionCheckReplySchema,
  AdmissionCheckRequestSchema,
  BillingSummaryRequestSchema,
  BillingSummarySchema,
  BudgetAlertEventSchema,
  BudgetRequestSchema,
  BudgetSetRequestSchema,
  BudgetViewSchema,
  CostRequestSchema,
  CostViewSchema,
  CreditNoteCreateRequestSchema,
  CreditNoteViewSchema,
  CreditsGrantRequestSchema,
  CreditsRequestSchema,
  CreditsViewSchema,
  InvoiceFinalisedEventSchema,
  InvoiceFinalizeRequestSchema,
  InvoiceListRequestSchema,
  InvoiceListSchema,
  InvoiceRefRequestSchema,
  InvoiceViewSchema,
  PlanAssignmentSchema,
  PlanAssignRequestSchema,
  PlanCreateRequestSchema,
  PlanListRequestSchema,
  PlanListSchema,
  PlanViewSchema,
} from './billing';
import {
  CreateJoinTokenRequestSchema,
  EnrolReplySchema,
  EnrolRequestSchema,
  HostActionRequestSchema,
  HostListSchema,
  HostRefRequestSchema,
  HostStateChangedSchema,
  HostViewSchema,
  JoinTokenSchema,
  ListHostsRequestSchema,
} from './host';

import {
  CreateSnapshotRequestSchema,
  DeletedSnapshotSchema,
  MigrateWorkloadRequestSchema,
  MigrationEndpointSchema,
  MigrationViewSchema,
  SnapshotListSchema,
  SnapshotRefRequestSchema,
  SnapshotViewSchema,
  VmAckSchema,
  VmConsoleChunkSchema,
  VmConsoleRequestSchema,
  VmControlReplySchema,
  VmControlRequestSchema,
  VmMigrateAbortRequestSchema,
  VmMigratePrepareRequestSchema,
  VmMigrateSendRequestSchema,
  VmMigrationResultSchema,
  VmSnapshotRequestSchema,
} from './vm';
import {
  AgentCommitRequestSchema,
  CommitWorkloadRequestSchema,
  CommittedImageSchema,
  RegistryServiceTokenRequestSchema,
  RegistryServiceTokenSchema,
  TenantNameRequestSchema,
  TenantNameSchema,
} from './image-access';
import { AgentVmTemplateRequestSchema, SaveSnapshotTemplateRequestSchema, SavedVmTemplateSchema } from './vm-snapshot-template';
import { VmStatusReplySchema, VmStatusRequestSchema } from './vm-recovery';
import { ContainerLogChunkSchema, ContainerLogsRequestSchema } from './container-logs';
import {
  AgentBuildAcceptedSchema,
  AgentBuildRequestSchema,
  BuildContextChunkRequestSchema,
  BuildContextChunkSchema,
  BuildPlacementSchema,
  BuildReportReplySchema,
  BuildReportSchema,
  PlaceBuildRequestSchema,
} from './builds';
import {
  AdminListWorkloadsRequestSchema,
  AdminWorkloadRefRequestSchema,
  WorkloadEventListSchema,
  WorkloadEventsRequestSchema,
} from './workload-admin';

export interface CommandDef<S extends string = string, Req extends z.ZodType = z.ZodType, Res extends z.ZodType = z.ZodType> {
  readonly kind: 'command';
  readonly subject: S;
  readonly request: Req;
  readonly reply: Res;
}

/** Fire-and-forget core NATS message (heartbeats, nudges): may be lost, so only for signals. */
export interface SignalDef<S extends string = string, P extends z.ZodType = z.ZodType> {
  readonly kind: 'signal';
  readonly subject: S;
  readonly payload: P;
}

/** A fact on a JetStream stream: durable, deduplicated by `Nats-Msg-Id`, replayable. */
export interface EventDef<S extends string = string, P extends z.ZodType = z.ZodType> {
  readonly kind: 'event';
  readonly subject: S;
  readonly stream: string;
  readonly payload: P;
}

function command<const S extends string, Req extends z.ZodType, Res extends z.ZodType>(subject: S, request: Req, reply: Res): CommandDef<S, Req, Res> {
  return { kind: 'command', subject, request, reply };
}
function signal<const S extends string, P extends z.ZodType>(subject: S, payload: P): SignalDef<S, P> {
  return { kind: 'signal', subject, payload };
}
function event<const S extends string, P extends z.ZodType>(subject: S, stream: string, payload: P): EventDef<S, P> {
  return { kind: 'event', subject, stream, payload };
}

/** The JetStream stream that carries every `evt.>` fact. */
export const EVENTS_STREAM = 'GUREUM_EVENTS';

export const Commands = {
  workloadCreate: command('scheduler.cmd.workload.create.v1', CreateWorkloadRequestSchema, WorkloadViewSchema),
  workloadGet: command('scheduler.cmd.workload.get.v1', WorkloadRefRequestSchema, WorkloadViewSchema),
  workloadList: command('scheduler.cmd.workload.list.v1', ListWorkloadsRequestSchema, WorkloadPageSchema),
  workloadStop: command('scheduler.cmd.workload.stop.v1', WorkloadRefRequestSchema, WorkloadViewSchema),
  workloadStart: command('scheduler.cmd.workload.start.v1', WorkloadRefRequestSchema, WorkloadViewSchema),
  workloadDelete: command('scheduler.cmd.workload.delete.v1', WorkloadRefRequestSchema, WorkloadViewSchema),
  /** Operator only: stop the tenant's running workloads and refuse its creates/starts until resumed. */
  tenantSuspend: command('scheduler.cmd.tenant.suspend.v1', TenantSuspensionRequestSchema, TenantSuspensionReplySchema),
  /** Operator only: restart exactly what the suspension stopped. */
  tenantResume: command('scheduler.cmd.tenant.resume.v1', TenantSuspensionRequestSchema, TenantSuspensionReplySchema),
  /** Served by the api (owner of identities): a presented credential → its principal. */
  identityVerifyCredentials: command('identity.cmd.credentials.verify.v1', VerifyCredentialsRequestSchema, PrincipalSchema),
  /** Served by the api: is the credential behind a principal still valid (registry tokens are checked on use). */
  identityPrincipalStatus: command('identity.cmd.principal.status.v1', PrincipalStatusRequestSchema, PrincipalStatusSchema),
  /** Operator: run the registry's garbage collection now; replies with what was reclaimed. */
  registryGcRun: command('registry.cmd.gc.run.v1', RunGcRequestSchema, GcReportSchema),
  /** Operator: override (or reset) a tenant's registry storage quota. */
  registryQuotaSet: command('registry.cmd.quota.set.v1', SetStorageQuotaRequestSchema, StorageUsageSchema),
  /** Make a repository public (pullable by every tenant) or private again. */
  registryRepositoryVisibility: command('registry.cmd.repository.visibility.v1', SetRepositoryVisibilityRequestSchema, RepositoryVisibilitySchema),
  /** A tenant's repositories with tags and bytes, and its storage used vs quota (`GET /v1/images`). */
  registryImagesList: command('registry.cmd.images.list.v1', ListImagesRequestSchema, ImageListSchema),
  /** Usage rollups: a tenant's own, or (operator) every tenant's. */
  usageQuery: command('metering.cmd.usage.query.v1', UsageQueryRequestSchema, UsageReplySchema),
  /** Billing (operator): price plans and their assignment to tenants. */
  billingPlanCreate: command('billing.cmd.plan.create.v1', PlanCreateRequestSchema, PlanViewSchema),
  billingPlanList: command('billing.cmd.plan.list.v1', PlanListRequestSchema, PlanListSchema),
  billingPlanAssign: command('billing.cmd.plan.assign.v1', PlanAssignRequestSchema, PlanAssignmentSchema),
  /** Billing: a tenant's own invoices, or (operator) any tenant's. */
  billingInvoiceList: command('billing.cmd.invoice.list.v1', InvoiceListRequestSchema, InvoiceListSchema),
  billingInvoiceGet: command('billing.cmd.invoice.get.v1', InvoiceRefRequestSchema, InvoiceViewSchema),
  billingInvoiceFinalize: command('billing.cmd.invoice.finalize.v1', InvoiceFinalizeRequestSchema, InvoiceViewSchema),
  billingCreditNoteCreate: command('billing.cmd.credit-note.create.v1', CreditNoteCreateRequestSchema, CreditNoteViewSchema),
  billingCostGet: command('billing.cmd.cost.get.v1', CostRequestSchema, CostViewSchema),
  billingCreditsGrant: command('billing.cmd.credits.grant.v1', CreditsGrantRequestSchema, CreditsViewSchema),
  billingCreditsGet: command('billing.cmd.credits.get.v1', CreditsRequestSchema, CreditsViewSchema),
  billingBudgetGet: command('billing.cmd.budget.get.v1', BudgetRequestSchema, BudgetViewSchema),
  billingBudgetSet: command('billing.cmd.budget.set.v1', BudgetSetRequestSchema, BudgetViewSchema),
  billingSummary: command('billing.cmd.summary.get.v1', BillingSummaryRequestSchema, BillingSummarySchema),
  /** Asked by the api before a workload create: refused while the tenant is at its hard budget limit. */
  billingAdmissionCheck: command('billing.cmd.admission.check.v1', AdmissionCheckRequestSchema, AdmissionCheckReplySchema),
  /** Node-scoped: an agent asks for its desired state (level-triggered reconciliation). */
  agentAssignments: command('agent.*.req.assignments.v1', AssignmentsRequestSchema, AssignmentsReplySchema),
  /** Node-scoped: an agent reports what it observes on its node. */
  agentReport: command('agent.*.req.report.v1', StatusReportSchema, StatusReportReplySchema),
  // --- scheduler: compute quotas and placement explanations ---
  /** A tenant's own compute quotas and use. */
  quotaGet: command('scheduler.cmd.quota.get.v1', GetOwnQuotaRequestSchema, QuotaViewSchema),
  /** Operator: any tenant's compute quotas and use. */
  quotaAdminGet: command('scheduler.cmd.quota.admin-get.v1', GetTenantQuotaRequestSchema, QuotaViewSchema),
  /** Operator: override (number) or reset (null) a tenant's compute quotas. */
  quotaSet: command('scheduler.cmd.quota.set.v1', SetTenantQuotaRequestSchema, QuotaViewSchema),
  /** Operator: which hosts each placement filter removes for a workload, and the scores. */
  placementExplain: command('scheduler.cmd.placement.explain.v1', ExplainPlacementRequestSchema, PlacementExplanationSchema),
  /** Operator: every host with state, allocation and drain progress. */
  hostList: command('scheduler.cmd.host.list.v1', ListHostsRequestSchema, HostListSchema),
  hostGet: command('scheduler.cmd.host.get.v1', HostRefRequestSchema, HostViewSchema),
  /** Operator: cordon, uncordon, drain, maintenance or decommission one host. */
  hostAction: command('scheduler.cmd.host.action.v1', HostActionRequestSchema, HostViewSchema),
  /** Operator: a one-time join token for enrolling a new agent. */
  hostJoinTokenCreate: command('scheduler.cmd.host.jointoken.create.v1', CreateJoinTokenRequestSchema, JoinTokenSchema),
  /** The only subject the restricted `enrol` NATS user may publish to: a join token for credentials. */
  agentEnrol: command('enrol.req.agent.credentials.v1', EnrolRequestSchema, EnrolReplySchema),
  // --- VMs (vm helper) ---
  workloadPause: command('scheduler.cmd.workload.pause.v1', WorkloadRefRequestSchema, WorkloadViewSchema),
  workloadResume: command('scheduler.cmd.workload.resume.v1', WorkloadRefRequestSchema, WorkloadViewSchema),
  workloadSnapshotCreate: command('scheduler.cmd.workload.snapshot.create.v1', CreateSnapshotRequestSchema, SnapshotViewSchema),
  workloadSnapshotList: command('scheduler.cmd.workload.snapshot.list.v1', WorkloadRefRequestSchema, SnapshotListSchema),
  workloadSnapshotRestore: command('scheduler.cmd.workload.snapshot.restore.v1', SnapshotRefRequestSchema, WorkloadViewSchema),
  workloadSnapshotDelete: command('scheduler.cmd.workload.snapshot.delete.v1', SnapshotRefRequestSchema, DeletedSnapshotSchema),
  /** Operator only: move a VM to another host, live or cold; the workload keeps its id. */
  workloadMigrate: command('scheduler.cmd.workload.migrate.v1', MigrateWorkloadRequestSchema, MigrationViewSchema),
  /** Node-scoped, served by the agent: a chunk of a VM's serial console log. */
  agentVmConsole: command('agent.*.cmd.vm.console.v1', VmConsoleRequestSchema, VmConsoleChunkSchema),
  /** Node-scoped, served by the agent: a chunk of a container's stdout/stderr (only a container it created, of the tenant named). */
  agentContainerLogs: command('agent.*.cmd.container.logs.v1', ContainerLogsRequestSchema, ContainerLogChunkSchema),
  agentVmControl: command('agent.*.cmd.vm.control.v1', VmControlRequestSchema, VmControlReplySchema),
  agentVmSnapshot: command('agent.*.cmd.vm.snapshot.v1', VmSnapshotRequestSchema, SnapshotListSchema),
  agentVmMigratePrepare: command('agent.*.cmd.vm.migrate.prepare.v1', VmMigratePrepareRequestSchema, MigrationEndpointSchema),
  agentVmMigrateSend: command('agent.*.cmd.vm.migrate.send.v1', VmMigrateSendRequestSchema, VmMigrationResultSchema),
  agentVmMigrateAbort: command('agent.*.cmd.vm.migrate.abort.v1', VmMigrateAbortRequestSchema, VmAckSchema),
  /** Save a VM snapshot as a VM template in the tenant's registry repository. */
  workloadSnapshotTemplate: command('scheduler.cmd.workload.snapshot.template.v1', SaveSnapshotTemplateRequestSchema, SavedVmTemplateSchema),
  /** Node-scoped, scheduler → agent: export a VM snapshot's disk with the VM's kernel and initrd and push them. */
  agentVmTemplate: command('agent.*.cmd.vm.template.v1', AgentVmTemplateRequestSchema, SavedVmTemplateSchema),
  /** Node-scoped, scheduler → agent: does this node run the VM (recovering a migration a crash interrupted)? */
  agentVmStatus: command('agent.*.cmd.vm.status.v1', VmStatusRequestSchema, VmStatusReplySchema),
  // --- image access (builds helper) ---
  /** Scheduler only: a short-lived token to pull one repository a tenant owns (or a public one). */
  registryTokenPull: command('registry.cmd.token.pull.v1', RegistryServiceTokenRequestSchema, RegistryServiceTokenSchema),
  /** Scheduler only: a short-lived token to push to (and pull from) one repository in the tenant's own namespace. */
  registryTokenPush: command('registry.cmd.token.push.v1', RegistryServiceTokenRequestSchema, RegistryServiceTokenSchema),
  /** Served by the api: the name (registry namespace) of a tenant. */
  identityTenantName: command('identity.cmd.tenant.name.v1', TenantNameRequestSchema, TenantNameSchema),
  /** Save a workload's container (its writable layer) as an image in the tenant's repository. */
  workloadCommit: command('scheduler.cmd.workload.commit.v1', CommitWorkloadRequestSchema, CommittedImageSchema),
  /** Node-scoped, scheduler → agent: commit a container and push the image. */
  agentCommit: command('agent.*.cmd.commit.v1', AgentCommitRequestSchema, CommittedImageSchema),
  /** api → scheduler: choose a Docker host for a build and get its registry tokens. */
  buildPlace: command('scheduler.cmd.build.place.v1', PlaceBuildRequestSchema, BuildPlacementSchema),
  /** Node-scoped, api → agent: start a build (answered at once). */
  agentBuild: command('agent.*.cmd.build.v1', AgentBuildRequestSchema, AgentBuildAcceptedSchema),
  /** Node-scoped, agent → api: the next chunk of a build context assigned to this node. */
  agentBuildContext: command('agent.*.req.build.context.v1', BuildContextChunkRequestSchema, BuildContextChunkSchema),
  /** Node-scoped, agent → api: progress and log of a build assigned to this node. */
  agentBuildReport: command('agent.*.req.build.report.v1', BuildReportSchema, BuildReportReplySchema),
  // Admin console (operators across tenants) and workload history.
  /** Operator: workloads of every tenant, filtered by tenant, host, state and kind. */
  adminWorkloadList: command('scheduler.cmd.admin.workload.list.v1', AdminListWorkloadsRequestSchema, WorkloadPageSchema),
  /** Operator: any tenant's workload. */
  adminWorkloadGet: command('scheduler.cmd.admin.workload.get.v1', AdminWorkloadRefRequestSchema, WorkloadViewSchema),
  /** Operator: any tenant's workload's state transitions. */
  adminWorkloadEvents: command('scheduler.cmd.admin.workload.events.v1', AdminWorkloadRefRequestSchema, WorkloadEventListSchema),
  /** Operator: stop / start / delete any tenant's workload (the tenant's own rules apply: a suspended tenant's workload does not start). */
  adminWorkloadStop: command('scheduler.cmd.admin.workload.stop.v1', AdminWorkloadRefRequestSchema, WorkloadViewSchema),
  adminWorkloadStart: command('scheduler.cmd.admin.workload.start.v1', AdminWorkloadRefRequestSchema, WorkloadViewSchema),
  adminWorkloadDelete: command('scheduler.cmd.admin.workload.delete.v1', AdminWorkloadRefRequestSchema, WorkloadViewSchema),
  /** A tenant's own workload's state transitions. */
  workloadEvents: command('scheduler.cmd.workload.events.v1', WorkloadEventsRequestSchema, WorkloadEventListSchema),
} as const;

export const Signals = {
  agentHeartbeat: signal('agent.*.evt.heartbeat.v1', HeartbeatSchema),
  /** From the scheduler to one agent: "your assignments changed, reconcile now". */
  agentReconcile: signal('agent.*.cmd.reconcile.v1', ReconcileNudgeSchema),
} as const;

export const Events = {
  workloadStateChanged: event('evt.workload.state.v1', EVENTS_STREAM, WorkloadStateChangedSchema),
  /** Node-scoped: published by agents as plain core messages, captured by the GUREUM_USAGE stream. */
  usageSample: event('agent.*.evt.usage.v1', USAGE_STREAM, UsageSampleSchema),
  imagePushed: event('evt.image.pushed.v1', EVENTS_STREAM, ImagePushedSchema),
  imageDeleted: event('evt.image.deleted.v1', EVENTS_STREAM, ImageDeletedSchema),
  /** Bytes stored per tenant repository, sampled periodically by the registry (metering: GiB-hours). */
  registryStorageSample: event('evt.registry.storage.v1', EVENTS_STREAM, RegistryStorageSampleSchema),
  /** A tenant's cost this period crossed one of its budget thresholds (once per threshold and period). */
  billingBudgetAlert: event('evt.billing.budget.v1', EVENTS_STREAM, BudgetAlertEventSchema),
  billingInvoiceFinalised: event('evt.billing.invoice.finalised.v1', EVENTS_STREAM, InvoiceFinalisedEventSchema),
  /** Every host state change (cordon, drain, lost, back, decommission). */
  hostStateChanged: event('evt.host.state.v1', EVENTS_STREAM, HostStateChangedSchema),
  /** The api deleted a tenant (via its outbox, after the commit); the registry empties its namespace. */
  tenantDeleted: event('evt.tenant.deleted.v1', EVENTS_STREAM, TenantDeletedSchema),
} as const;

type AnyCommand = (typeof Commands)[keyof typeof Commands];
type AnySignal = (typeof Signals)[keyof typeof Signals];
type AnyEvent = (typeof Events)[keyof typeof Events];

export type CommandSubject = AnyCommand['subject'];
export type SignalSubject = AnySignal['subject'];
export type EventSubject = AnyEvent['subject'];

export type CommandOf<S extends CommandSubject> = Extract<AnyCommand, { subject: S }>;
/** What a sender passes (defaults still optional). */
export type RequestOf<S extends CommandSubject> = z.input<CommandOf<S>['request']>;
/** What a handler receives after validation. */
export type ValidRequestOf<S extends CommandSubject> = z.output<CommandOf<S>['request']>;
export type ReplyOf<S extends CommandSubject> = z.output<CommandOf<S>['reply']>;
export type SignalPayloadOf<S extends SignalSubject> = z.input<Extract<AnySignal, { subject: S }>['payload']>;
export type EventPayloadOf<S extends EventSubject> = z.input<Extract<AnyEvent, { subject: S }>['payload']>;

const commandsBySubject = new Map<string, AnyCommand>(Object.values(Commands).map((c) => [c.subject, c]));
const signalsBySubject = new Map<string, AnySignal>(Object.values(Signals).map((s) => [s.subject, s]));
const eventsBySubject = new Map<string, AnyEvent>(Object.values(Events).map((e) => [e.subject, e]));

export function commandDef<S extends CommandSubject>(subject: S): CommandOf<S> {
  return commandsBySubject.get(subject) as CommandOf<S>;
}
export function signalDef<S extends SignalSubject>(subject: S): Extract<AnySignal, { subject: S }> {
  return signalsBySubject.get(subject) as Extract<AnySignal, { subject: S }>;
}
export function eventDef<S extends EventSubject>(subject: S): Extract<AnyEvent, { subject: S }> {
  return eventsBySubject.get(subject) as Extract<AnyEvent, { subject: S }>;
}

export function isNodeScoped(subject: string): boolean {
  return subject.split('.').includes('*');
}

/** `agent.*.req.report.v1` + `node-1` → `agent.node-1.req.report.v1`. */
export function concreteSubject(pattern: string, nodeId?: string): string {
  if (!isNodeScoped(pattern)) return pattern;
  if (!nodeId || !/^[a-z0-9][a-z0-9-]{0,62}$/.test(nodeId)) throw new Error(`subject ${pattern} needs a valid node id`);
  return pattern.replace('*', nodeId);
}

/** The node id in a concrete node-scoped subject; used to trust the subject, not the payload. */
export function nodeIdOfSubject(pattern: string, subject: string): string | null {
  const p = pattern.split('.');
  const s = subject.split('.');
  if (p.length !== s.length) return null;
  let nodeId: string | null = null;
  for (let i = 0; i < p.length; i += 1) {
    if (p[i] === '*') nodeId = s[i] ?? null;
    else if (p[i] !== s[i]) return null;
  }
  return nodeId;
}
