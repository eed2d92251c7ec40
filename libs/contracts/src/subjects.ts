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
import { PrincipalSchema, TenantSuspensionReplySchema, TenantSuspensionRequestSchema, VerifyCredentialsRequestSchema } from './identity';
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
  /** Operator: run the registry's garbage collection now; replies with what was reclaimed. */
  registryGcRun: command('registry.cmd.gc.run.v1', RunGcRequestSchema, GcReportSchema),
  /** Operator: override (or reset) a tenant's registry storage quota. */
  registryQuotaSet: command('registry.cmd.quota.set.v1', SetStorageQuotaRequestSchema, StorageUsageSchema),
  /** Make a repository public (pullable by every tenant) or private again. */
  registryRepositoryVisibility: command('registry.cmd.repository.visibility.v1', SetRepositoryVisibilityRequestSchema, RepositoryVisibilitySchema),
  /** Usage rollups: a tenant's own, or (operator) every tenant's. */
  usageQuery: command('metering.cmd.usage.query.v1', UsageQueryRequestSchema, UsageReplySchema),
  /** Node-scoped: an agent asks for its desired state (level-triggered reconciliation). */
  agentAssignments: command('agent.*.req.assignments.v1', AssignmentsRequestSchema, AssignmentsReplySchema),
  /** Node-scoped: an agent reports what it observes on its node. */
  agentReport: command('agent.*.req.report.v1', StatusReportSchema, StatusReportReplySchema),
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
