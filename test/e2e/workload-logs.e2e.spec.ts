/**
 * Container logs end to end: `GET /v1/workloads/{id}/logs` reads what a real container wrote
 * to stdout and stderr, through the scheduler (which host, which tenant) and that host's agent
 * (which serves only its own container), with tail, since and follow; readers of the tenant
 * only; a VM points at its console instead.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Problem, type Workload } from './support/api-client';
import { System, type TenantCredentials } from './support/system';

const exec = promisify(execFile);
const system = new System({ label: 'logs', agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 } });
let tenantA: TenantCredentials;
let tenantB: TenantCredentials;
let ownerA: ApiClient;
let viewerKey: string;
/** Prints two lines on each stream, a second apart, then sleeps. */
let printerId: string;

const PRINTER = 'echo out-1; echo err-1 >&2; sleep 1; echo out-2; echo err-2 >&2; exec sleep 3600';

async function logs(key: string, id: string, query = ''): Promise<{ status: number; text: string; contentType: string | null }> {
  const res = await fetch(`${system.apiUrl}/v1/workloads/${id}/logs${query}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') };
}

const lines = (text: string) => text.split('\n').filter((line) => line !== '');

async function waitForState(id: string, states: string[], timeoutMs = 30_000): Promise<Workload> {
  return waitFor(
    async () => {
      const res = await ownerA.getWorkload(id);
      return res.status === 200 && states.includes(res.body.state) ? res.body : undefined;
    },
    { timeoutMs, intervalMs: 300, what: `workload ${id} in ${states.join('|')}` },
  );
}

/** A streaming read of the response body, line by line as it arrives. */
async function follow(key: string, id: string, query: string) {
  const controller = new AbortController();
  const res = await fetch(`${system.apiUrl}/v1/workloads/${id}/logs${query}`, { headers: { authorization: `Bearer ${key}` }, signal: controller.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let received = '';
  let ended = false;
  return {
    abort: () => controller.abort(),
    /** Reads until `text` has arrived; false when the response ended first. */
    async until(text: string): Promise<boolean> {
      while (!received.includes(text)) {
        if (ended) return false;
        const { done, value } = await reader.read();
        if (done) ended = true;
        else received += decoder.decode(value, { stream: true });
      }
      return true;
    },
    /** Reads to the end of the response. */
    async toEnd(): Promise<string> {
      while (!ended) {
        const { done, value } = await reader.read();
        if (done) ended = true;
        else received += decoder.decode(value, { stream: true });
      }
      return received;
    },
  };
}

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start({ GUREUM_API_STREAM_RECHECK_MS: '500' });
  tenantA = await system.createTenant('logs-a');
  tenantB = await system.createTenant('logs-b');
  ownerA = new ApiClient(system.apiUrl, tenantA.apiKey);
  const viewer = await ownerA.call<{ id: string; apiKey: string }>('POST', '/v1/api-keys', { name: 'log-reader', role: 'viewer' });
  expect(viewer.status).toBe(201);
  viewerKey = viewer.body.apiKey;
  const created = await ownerA.createWorkload(containerSpec('printer', { command: ['sh', '-c', PRINTER] }));
  expect(created.status).toBe(201);
  printerId = created.body.id;
  await waitForState(printerId, ['running']);
}, 180_000);

afterAll(async () => {
  await system.stop();
}, 60_000);

describe('container logs', () => {
  it('holds what the container wrote on stdout and on stderr, each line named by its stream', async () => {
    const all = await waitFor(
      async () => {
        const res = await logs(tenantA.apiKey, printerId);
        return res.status === 200 && lines(res.text).length >= 4 ? res : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 300, what: 'four log lines' },
    );
    expect(all.contentType).toMatch(/^text\/plain/);
    expect(lines(all.text).sort()).toEqual(['stderr err-1', 'stderr err-2', 'stdout out-1', 'stdout out-2']);
  });

  it('keeps the last lines with tail, and the lines from a time on with since (RFC 3339 or Unix seconds)', async () => {
    const tail = await logs(tenantA.apiKey, printerId, '?tail=2');
    expect(tail.status).toBe(200);
    expect(lines(tail.text).sort()).toEqual(['stderr err-2', 'stdout out-2']);

    const stamped = await logs(tenantA.apiKey, printerId, '?timestamps=true');
    const entries = lines(stamped.text).map((line) => {
      const [stream, time, ...rest] = line.split(' ');
      return { stream, time: time!, text: rest.join(' ') };
    });
    expect(entries).toHaveLength(4);
    for (const entry of entries) expect(entry.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/);
    // The second group was written a second after the first: from its first line on, only it.
    const secondGroup = entries.filter((entry) => entry.text.endsWith('-2'));
    const from = secondGroup.map((entry) => entry.time).sort(byTime)[0]!;
    const since = await logs(tenantA.apiKey, printerId, `?since=${encodeURIComponent(from)}`);
    expect(since.status).toBe(200);
    expect(lines(since.text).sort()).toEqual(['stderr err-2', 'stdout out-2']);

    const unixSeconds = toUnixSeconds(from);
    const sinceSeconds = await logs(tenantA.apiKey, printerId, `?since=${unixSeconds}`);
    expect(lines(sinceSeconds.text).sort()).toEqual(['stderr err-2', 'stdout out-2']);

    const bad = await logs(tenantA.apiKey, printerId, '?since=yesterday');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ code: 'validation_failed' });
  });

  it('follows: a line printed after the request began arrives, and the response ends when the container exits', async () => {
    const created = await ownerA.createWorkload(
      containerSpec('follower', { command: ['sh', '-c', 'echo ready; while [ ! -e /tmp/go ]; do sleep 1; done; echo after-go >&2; exit 0'] }),
    );
    expect(created.status).toBe(201);
    const id = created.body.id;
    await waitForState(id, ['running']);
    const stream = await follow(viewerKey, id, '?follow=true');
    expect(await stream.until('stdout ready\n')).toBe(true);
    // Only now does the container print its next line (and then exit).
    const [containerId] = await system.containerIds({ 'io.gureum.workload': id });
    await exec('docker', ['exec', containerId!, 'touch', '/tmp/go']);
    const text = await stream.toEnd();
    expect(lines(text)).toEqual(['stdout ready', 'stderr after-go']);
    await waitForState(id, ['stopped', 'failed']);
  });

  it('lets a viewer read; another tenant gets 404, as for every route', async () => {
    const viewer = await logs(viewerKey, printerId, '?tail=1');
    expect(viewer.status).toBe(200);
    const other = await logs(tenantB.apiKey, printerId);
    expect(other.status).toBe(404);
    expect(JSON.parse(other.text)).toMatchObject({ code: 'not_found' });
    expect(other.text).not.toContain('out-1');
  });

  it('ends a follow once its credential is revoked', async () => {
    const doomed = await ownerA.call<{ id: string; apiKey: string }>('POST', '/v1/api-keys', { name: 'doomed-reader', role: 'viewer' });
    expect(doomed.status).toBe(201);
    const stream = await follow(doomed.body.apiKey, printerId, '?follow=true');
    expect(await stream.until('stdout out-2\n')).toBe(true);
    expect((await ownerA.call('DELETE', `/v1/api-keys/${doomed.body.id}`)).status).toBe(204);
    // The container keeps running (it sleeps an hour): only the revocation can end this response.
    await stream.toEnd();
    expect((await ownerA.getWorkload(printerId)).body.state).toBe('running');
    expect((await logs(doomed.body.apiKey, printerId)).status).toBe(401);
  });

  it('answers a VM with 409 invalid_state that points at its console', async () => {
    // A VM template from a registry passes the create check without a VM host; it then waits, unplaced.
    const image = `127.0.0.1:5000/${tenantA.name}/vm-template:1`;
    const created = await ownerA.createWorkload({ name: 'a-vm', kind: 'vm', image, resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 } });
    expect(created.status).toBe(201);
    const res = await logs(tenantA.apiKey, created.body.id);
    expect(res.status).toBe(409);
    const problem = JSON.parse(res.text) as Problem & { details?: Record<string, unknown> };
    expect(res.contentType).toMatch(/^application\/problem\+json/);
    expect(problem).toMatchObject({ code: 'invalid_state' });
    expect(JSON.stringify(problem)).toContain(`/v1/workloads/${created.body.id}/console`);
  });
});

function byTime(a: string, b: string): number {
  const ns = (time: string) => {
    const match = /^(.*?)(?:\.(\d+))?Z$/.exec(time)!;
    return BigInt(Date.parse(`${match[1]}Z`)) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'));
  };
  const diff = ns(a) - ns(b);
  return diff < 0n ? -1 : diff > 0n ? 1 : 0;
}

function toUnixSeconds(time: string): string {
  const match = /^(.*?)(?:\.(\d+))?Z$/.exec(time)!;
  return `${Date.parse(`${match[1]}Z`) / 1000}.${(match[2] ?? '').padEnd(9, '0')}`;
}
