import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { waitFor } from '@gureum/testing';
import type { ApiClient } from './api-client';

const exec = promisify(execFile);

/** The VM's serial log as the api serves it (`GET /v1/workloads/{id}/console`). */
export async function consoleText(client: ApiClient, id: string): Promise<string> {
  const res = await client.call<string>('GET', `/v1/workloads/${id}/console`);
  if (res.status !== 200) throw new Error(`console answered ${res.status}: ${JSON.stringify(res.body)}`);
  return typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
}

/** The tiny guest's heartbeat counter values, in the order it printed them. */
export function heartbeats(text: string): number[] {
  return [...text.matchAll(/gureum-heartbeat (\d+)\r?\n/g)].map((match) => Number(match[1]));
}

/**
 * QEMU outlives agents by design: delete the VMs through the API so their agents destroy them,
 * then kill whatever QEMU of this run is left (its command line carries the node id).
 */
export async function removeVms(client: ApiClient, ids: readonly string[], nodeId: string): Promise<void> {
  for (const id of ids) await client.call('DELETE', `/v1/workloads/${id}`).catch(() => undefined);
  await waitFor(
    async () => {
      for (const id of ids) {
        const res = await client.call<{ state?: string }>('GET', `/v1/workloads/${id}`);
        if (res.status !== 404 && res.body.state !== 'deleted') return undefined;
      }
      return true;
    },
    { timeoutMs: 60_000, what: 'VMs deleted' },
  ).catch(() => undefined);
  const { stdout } = await exec('pgrep', ['-f', `qemu-system.*${nodeId}`]).catch(() => ({ stdout: '' }));
  for (const pid of stdout.split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
