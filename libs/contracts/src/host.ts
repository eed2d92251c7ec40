import { z } from 'zod';
import { NodeIdSchema } from './agent';
import { OperatorCallerSchema } from './caller';

/**
 * Host lifecycle, as operators see it. Only `ready` hosts take new placements.
 * - cordoned: no new placements; what runs stays.
 * - draining: no new placements; what runs is moved elsewhere until nothing is left.
 * - maintenance: no new placements, and silence is expected (never declared lost).
 * - unreachable: silent for the configured number of heartbeat intervals, but within the disconnect
 *   grace window: no new placements; its workloads keep their placement (shown `unknown`) and are
 *   adopted untouched if it returns.
 * - lost: still silent at the end of the grace window; restartable workloads are re-placed.
 * - decommissioned: retired for good; heartbeats are ignored.
 */
export const HOST_STATES = ['ready', 'cordoned', 'draining', 'maintenance', 'unreachable', 'lost', 'decommissioned'] as const;
export const HostStateSchema = z.enum(HOST_STATES);
export type HostStateName = z.infer<typeof HostStateSchema>;

export const HOST_ACTIONS = ['cordon', 'uncordon', 'drain', 'maintenance', 'decommission'] as const;
export const HostActionSchema = z.enum(HOST_ACTIONS);
export type HostAction = z.infer<typeof HostActionSchema>;

const AmountsSchema = z.object({
  cpuMillis: z.number().int(),
  memoryMiB: z.number().int(),
  pids: z.number().int(),
});

export const DrainProgressSchema = z.object({
  /** Workloads on the host when the drain began. */
  total: z.number().int().nonnegative(),
  /** Workloads still assigned to the host. */
  remaining: z.number().int().nonnegative(),
  done: z.boolean(),
  /** Why some workloads cannot move yet (e.g. a VM waiting for live migration), one per workload. */
  blocked: z.array(z.object({ workloadId: z.uuid(), reason: z.string() })).optional(),
});
export type DrainProgress = z.infer<typeof DrainProgressSchema>;

export const HostViewSchema = z.object({
  id: NodeIdSchema,
  state: HostStateSchema,
  drivers: z.array(z.string()),
  labels: z.record(z.string(), z.string()),
  capacity: AmountsSchema,
  allocated: AmountsSchema,
  workloadCount: z.number().int().nonnegative(),
  drain: DrainProgressSchema.nullable(),
  lastHeartbeatAt: z.iso.datetime({ offset: true }),
});
export type HostView = z.infer<typeof HostViewSchema>;

export const HostListSchema = z.object({ items: z.array(HostViewSchema) });
export type HostList = z.infer<typeof HostListSchema>;

export const ListHostsRequestSchema = z.object({ caller: OperatorCallerSchema }).strict();
export const HostRefRequestSchema = z.object({ caller: OperatorCallerSchema, hostId: NodeIdSchema }).strict();
export const HostActionRequestSchema = z.object({ caller: OperatorCallerSchema, hostId: NodeIdSchema, action: HostActionSchema }).strict();

/** Fact published (via the outbox) on every host state change. */
export const HostStateChangedSchema = z.object({
  eventId: z.uuid(),
  hostId: NodeIdSchema,
  from: HostStateSchema.nullable(),
  to: HostStateSchema,
  reason: z.string().nullable(),
  at: z.iso.datetime({ offset: true }),
});
export type HostStateChanged = z.infer<typeof HostStateChangedSchema>;

/** Operator: a one-time join token for a new agent. */
export const CreateJoinTokenRequestSchema = z
  .object({
    caller: OperatorCallerSchema,
    /** Pin the token to one node id; otherwise the agent chooses its id when it enrols. */
    nodeId: NodeIdSchema.optional(),
    ttlSeconds: z.number().int().min(60).max(7 * 24 * 3600).default(3600),
  })
  .strict();
export const JoinTokenSchema = z.object({ token: z.string(), expiresAt: z.iso.datetime({ offset: true }) });
export type JoinToken = z.infer<typeof JoinTokenSchema>;

/** An agent with a join token and no credentials asks for credentials of its own. */
export const EnrolRequestSchema = z
  .object({
    token: z.string().min(16).max(256),
    nodeId: NodeIdSchema,
    /** The agent's NKey user public key; its seed stays on the node. */
    publicKey: z.string().regex(/^U[A-Z2-7]{55}$/, 'must be an NKey user public key'),
  })
  .strict();
export const EnrolReplySchema = z.object({
  nodeId: NodeIdSchema,
  /** Pass as the client's `inboxPrefix` from now on. */
  inboxPrefix: z.string(),
});
export type EnrolReply = z.infer<typeof EnrolReplySchema>;
