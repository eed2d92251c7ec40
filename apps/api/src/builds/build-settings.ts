import { loadConfig } from '@gureum/runtime';
import { z } from 'zod';

export const BUILD_SETTINGS = Symbol('api.buildSettings');

export const BuildEnvSchema = z.object({
  /** Largest build context accepted (413 above). */
  GUREUM_BUILD_MAX_CONTEXT_BYTES: z.coerce.number().int().min(1024).default(64 * 1024 * 1024),
  /** CPU and memory every build runs under (Docker's build cpu quota and memory limit). */
  GUREUM_BUILD_CPU_MILLIS: z.coerce.number().int().min(10).default(1000),
  GUREUM_BUILD_MEMORY_MIB: z.coerce.number().int().min(6).default(512),
  /** A build its agent has not reported on for this long is failed (agents report at least every 30 s). */
  GUREUM_BUILD_STALE_SECONDS: z.coerce.number().int().min(60).default(300),
});

export interface BuildSettings {
  maxContextBytes: number;
  resources: { cpuMillis: number; memoryMiB: number };
  staleAfterSeconds: number;
}

/** Validated at boot with every bad variable listed, like the rest of the api's config. */
export function buildSettingsFromEnv(source: NodeJS.ProcessEnv = process.env): BuildSettings {
  const vars = loadConfig(BuildEnvSchema, source);
  return { maxContextBytes: vars.GUREUM_BUILD_MAX_CONTEXT_BYTES, resources: { cpuMillis: vars.GUREUM_BUILD_CPU_MILLIS, memoryMiB: vars.GUREUM_BUILD_MEMORY_MIB },
    staleAfterSeconds: vars.GUREUM_BUILD_STALE_SECONDS,
  };
}

/** The raw-body route: the JSON gate lets it through and the controller reads the tar itself. */
export function isBuildContextUpload(request: { method?: string; url?: string }): boolean {
  return request.method === 'POST' && (request.url ?? '').split('?')[0]?.replace(/\/+$/, '') === '/v1/builds';
}
