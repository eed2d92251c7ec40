import os from 'node:os';
import path from 'node:path';
import { NodeIdSchema } from '@gureum/contracts';
import { env, loadConfig } from '@gureum/runtime';
import { z } from 'zod';

const LabelsSchema = z
  .string()
  .default('')
  .transform((text, ctx) => {
    const labels: Record<string, string> = {};
    for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
      const match = /^([a-z0-9][a-z0-9._/-]{0,62})=([A-Za-z0-9._-]{0,255})$/.exec(pair);
      if (!match) {
        ctx.addIssue({ code: 'custom', message: `label "${pair}" must be key=value` });
        return z.NEVER;
      }
      labels[match[1] as string] = match[2] as string;
    }
    return labels;
  });

const optionalInt = z.coerce.number().int().positive().optional();

export const AgentConfigSchema = z.object({
  GUREUM_NATS_URL: env.url(['nats']),
  GUREUM_NATS_USER: z.string().min(1).optional(),
  GUREUM_NATS_PASSWORD: z.string().optional(),
  /** One-time join token: with no credentials of its own yet, the agent enrols with it once. */
  GUREUM_JOIN_TOKEN: z.string().min(16).optional(),
  /** The restricted NATS user that may only present join tokens. */
  GUREUM_NATS_ENROL_USER: z.string().min(1).default('enrol'),
  GUREUM_NATS_ENROL_PASSWORD: z.string().optional(),
  GUREUM_AGENT_NODE_ID: NodeIdSchema.default(os.hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63)),
  GUREUM_AGENT_STATE_DIR: z.string().min(1).default(path.resolve('.gureum/agent')),
  GUREUM_AGENT_HEARTBEAT_MS: env.positiveInt(2000),
  GUREUM_AGENT_RECONCILE_MS: env.positiveInt(3000),
  GUREUM_AGENT_STOP_TIMEOUT_S: env.positiveInt(10),
  /**
   * Fencing: after this long without a successful exchange with the control plane the agent
   * stops its restartable workloads (the scheduler's GUREUM_SCHEDULER_DISCONNECT_GRACE_MS).
   */
  GUREUM_AGENT_FENCE_AFTER_MS: env.positiveInt(60_000),
  GUREUM_AGENT_LABELS: LabelsSchema,
  /** Capacity offered to the scheduler; defaults to what the engine reports. */
  GUREUM_AGENT_CPU_MILLIS: optionalInt,
  GUREUM_AGENT_MEMORY_MIB: optionalInt,
  GUREUM_AGENT_PIDS: optionalInt,
  /** Builds: pids limit of all RUN steps of one build together (its sandbox's cgroup). */
  GUREUM_BUILD_PIDS_LIMIT: env.positiveInt(256),
  /** Builds: operator images on this host that any build may name (comma-separated, exact references). */
  GUREUM_BUILD_PUBLIC_IMAGES: z.string().default('gureum/busybox:latest'),
  /** vm driver: `auto` uses KVM only when a probe guest boots under it. */
  GUREUM_AGENT_VM_ACCEL: z.enum(['auto', 'kvm', 'tcg']).default('auto'),
  /** vm driver: host-cached templates, one directory each (deploy/images/vm-guest.sh). */
  GUREUM_AGENT_VM_TEMPLATES: z.string().min(1).default(path.resolve('.gureum/images/vm')),
  /** vm driver: the unprivileged user QEMU runs as (when the agent is root); '' = the agent's own user. */
  GUREUM_AGENT_VM_USER: z.string().max(32).regex(/^([a-z_][a-z0-9_-]*)?$/).default('gureum-qemu'),
  /** vm driver: address this node's QEMU listens on when it is a live migration's destination. */
  GUREUM_AGENT_MIGRATION_HOST: z.string().min(1).max(255).default('127.0.0.1'),
  GUREUM_LOG_LEVEL: env.logLevel(),
});
export type AgentConfig = z.output<typeof AgentConfigSchema>;

export function loadAgentConfig(environment: NodeJS.ProcessEnv = process.env): AgentConfig {
  return loadConfig(AgentConfigSchema, environment);
}

export type AgentDriverName = 'docker' | 'vm';

/** `--driver docker` (default), `--driver vm`, or both: `--driver docker,vm`. */
export function parseDriverArg(argv: string[]): AgentDriverName[] {
  const index = argv.indexOf('--driver');
  const value = index >= 0 ? argv[index + 1] : (argv.find((a) => a.startsWith('--driver='))?.split('=')[1] ?? 'docker');
  const names = String(value).split(',').map((name) => name.trim());
  if (names.length === 0 || names.some((name) => name !== 'docker' && name !== 'vm') || new Set(names).size !== names.length) {
    throw new Error(`unsupported --driver ${String(value)}: this agent offers "docker", "vm" or "docker,vm"`);
  }
  return names as AgentDriverName[];
}
