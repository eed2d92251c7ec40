import { z } from 'zod';
import { CallerSchema } from './caller';
import { ImageTagSchema, RegistryAuthSchema } from './image-access';
import { RepositoryNameSchema } from './registry';

/**
 * Image builds: a tenant's Dockerfile build context, built on a Docker-host agent under
 * resource limits and pushed to the tenant's repository. The api owns build records and the
 * context bytes; the scheduler chooses the host and hands out the registry tokens; the agent
 * fetches the context in chunks (NATS messages are limited to 1 MiB) and reports progress.
 */

export const BUILD_STATES = ['queued', 'building', 'pushing', 'succeeded', 'failed'] as const;
export const BuildStateSchema = z.enum(BUILD_STATES);
export type BuildState = z.infer<typeof BuildStateSchema>;

export const BuildResourcesSchema = z.object({
  cpuMillis: z.number().int().min(10).max(1_024_000),
  memoryMiB: z.number().int().min(6).max(4_194_304),
});
export type BuildResources = z.infer<typeof BuildResourcesSchema>;

export const BuildViewSchema = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  state: BuildStateSchema,
  /** `<registry>/<repository>:<tag>` the build pushes to. */
  image: z.string(),
  repository: RepositoryNameSchema,
  tag: ImageTagSchema,
  hostId: z.string().nullable(),
  /** Manifest digest once pushed. */
  digest: z.string().nullable(),
  /** Why it failed; null otherwise. */
  error: z.string().nullable(),
  contextBytes: z.number().int().nonnegative(),
  resources: BuildResourcesSchema,
  createdAt: z.iso.datetime({ offset: true }),
  updatedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }).nullable(),
});
export type BuildView = z.infer<typeof BuildViewSchema>;

export const BuildLogSchema = z.object({ id: z.uuid(), state: BuildStateSchema, log: z.string(), truncated: z.boolean() });
export type BuildLog = z.infer<typeof BuildLogSchema>;

/** `POST /v1/builds` query. */
export const CreateBuildQuerySchema = z
  .object({
    repository: RepositoryNameSchema,
    tag: ImageTagSchema.default('latest'),
  })
  .strict();

/** api → scheduler: where to build, with which tokens. */
export const PlaceBuildRequestSchema = z
  .object({
    caller: CallerSchema,
    repository: RepositoryNameSchema,
    /** Base images the Dockerfile names (`FROM`); those in our registry get pull tokens. */
    baseImages: z.array(z.string().max(512)).max(32),
    resources: BuildResourcesSchema,
  })
  .strict();

export const BuildPlacementSchema = z.object({
  hostId: z.string(),
  /** `<registry>/<repository>`, the build's target without the tag. */
  target: z.string(),
  pushAuth: RegistryAuthSchema,
  pullAuths: z.array(z.object({ image: z.string(), auth: RegistryAuthSchema })),
});
export type BuildPlacement = z.infer<typeof BuildPlacementSchema>;

/** api → agent (node-scoped): start a build; the agent answers at once and works in the background. */
export const AgentBuildRequestSchema = z
  .object({
    buildId: z.uuid(),
    tenantId: z.uuid(),
    image: z.string().max(512),
    contextBytes: z.number().int().positive(),
    resources: BuildResourcesSchema,
    pushAuth: RegistryAuthSchema,
    pullAuths: z.array(z.object({ image: z.string().max(512), auth: RegistryAuthSchema })).max(32),
  })
  .strict();
export const AgentBuildAcceptedSchema = z.object({ accepted: z.literal(true) });

/** Largest context chunk per message: base64 of 512 KiB stays well below NATS' 1 MiB. */
export const BUILD_CONTEXT_CHUNK_BYTES = 512 * 1024;

/** agent → api (node-scoped): one chunk of a build's context. */
export const BuildContextChunkRequestSchema = z
  .object({
    buildId: z.uuid(),
    offset: z.number().int().nonnegative(),
  })
  .strict();
export const BuildContextChunkSchema = z.object({
  /** base64 */
  data: z.string(),
  eof: z.boolean(),
});

/** agent → api (node-scoped): progress of a build. `log` is appended. */
export const BuildReportSchema = z
  .object({
    buildId: z.uuid(),
    state: z.enum(['building', 'pushing', 'succeeded', 'failed']),
    log: z.string().max(256 * 1024).default(''),
    digest: z.string().regex(/^sha256:[a-f0-9]{64}$/).optional(),
    error: z.string().max(4096).optional(),
  })
  .strict();
export const BuildReportReplySchema = z.object({ applied: z.boolean() });
