import { waitFor } from '@gureum/testing';

/** A thin client for the public REST API, as a tenant would use it. */
export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface Workload {
  id: string;
  tenantId: string;
  name: string;
  state: string;
  desiredState: string;
  reason: string | null;
  exitCode: number | null;
  hostId: string | null;
  resources: { cpuMillis: number; memoryMiB: number; pids: number };
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string | null,
  ) {}

  async call<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (this.apiKey) (init.headers as Record<string, string>)['authorization'] = `Bearer ${this.apiKey}`;
    if (body !== undefined) {
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(`${this.baseUrl}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON; the test will see the raw text
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }

  createWorkload(spec: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<Workload & Problem>> {
    return this.call('POST', '/v1/workloads', spec, headers);
  }

  getWorkload(id: string): Promise<ApiResponse<Workload & Problem>> {
    return this.call('GET', `/v1/workloads/${id}`);
  }
}

export function containerSpec(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    kind: 'container',
    image: 'gureum/busybox:latest',
    command: ['sh', '-c', 'while true; do sleep 1; done'],
    resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 },
    ...overrides,
  };
}

/**
 * Polls a workload until it is in one of `states`. On timeout the error names the last state
 * the api answered (the probe throws it, and `waitFor` reports the probe's last error).
 */
export async function waitForWorkloadState<T extends { state: string } = Workload>(
  api: ApiClient,
  id: string,
  states: string[],
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  return waitFor(
    async () => {
      const res = await api.call<T>('GET', `/v1/workloads/${id}`);
      if (res.status === 200 && states.includes(res.body.state)) return res.body;
      throw new Error(`last answer ${res.status}: ${JSON.stringify(res.body)}`);
    },
    { timeoutMs: options.timeoutMs ?? 30_000, intervalMs: options.intervalMs ?? 100, what: `workload ${id} in ${states.join('|')}` },
  );
}
