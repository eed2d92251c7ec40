#!/usr/bin/env node
// bench:start — 50 containers started through the API (POST until `running`) against the
// same 50 started with `docker run` directly, in one run, on the same engine. Not a test:
// it prints numbers and a ratio. Needs the local stack (`npm run up`).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const COUNT = Number(process.env.BENCH_COUNT ?? 50);
const API = process.env.GUREUM_API_URL ?? 'http://127.0.0.1:8080';
const IMAGE = 'gureum/busybox:latest';
const demo = JSON.parse(await readFile(new URL('../../.gureum/demo.json', import.meta.url), 'utf8'));
const headers = { authorization: `Bearer ${demo.tenant.apiKey}`, 'content-type': 'application/json' };

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

async function api(method, path, body) {
  const res = await fetch(`${API}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json();
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function viaApi(i) {
  const started = performance.now();
  const created = await api('POST', '/v1/workloads', {
    name: `bench-${i}`,
    kind: 'container',
    image: IMAGE,
    command: ['sleep', '3600'],
    resources: { cpuMillis: 10, memoryMiB: 16, pids: 16 },
  });
  for (;;) {
    const w = await api('GET', `/v1/workloads/${created.id}`);
    if (w.state === 'running') return { ms: performance.now() - started, id: created.id };
    if (['failed', 'pending'].includes(w.state) && w.reason) throw new Error(`bench-${i}: ${w.state} ${w.reason}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function viaDocker(i) {
  const started = performance.now();
  await exec('docker', [
    'run', '-d', '--name', `gureum-bench-raw-${i}`, '--label', 'io.gureum.bench=raw',
    '--cpu-period', '100000', '--cpu-quota', '1000', '--memory', '16m', '--memory-swap', '16m', '--pids-limit', '16',
    '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--network', RAW_NETWORK, IMAGE, 'sleep', '3600',
  ]);
  return { ms: performance.now() - started };
}

const apiTimes = [];
const ids = [];
for (let i = 0; i < COUNT; i += 1) {
  const r = await viaApi(i);
  apiTimes.push(r.ms);
  ids.push(r.id);
}
for (const id of ids) await api('DELETE', `/v1/workloads/${id}`);

// The API path runs each tenant on its own bridge network; give the raw path one too.
const RAW_NETWORK = 'gureum-bench-raw';
await exec('docker', ['network', 'create', '--label', 'io.gureum.bench=raw', RAW_NETWORK]).catch(() => undefined);
const rawTimes = [];
try {
  for (let i = 0; i < COUNT; i += 1) rawTimes.push((await viaDocker(i)).ms);
} finally {
  const { stdout } = await exec('docker', ['ps', '-aq', '--filter', 'label=io.gureum.bench=raw']);
  const raw = stdout.split('\n').filter(Boolean);
  if (raw.length) await exec('docker', ['rm', '-f', ...raw]);
  await exec('docker', ['network', 'rm', RAW_NETWORK]).catch(() => undefined);
}

const row = (name, t) => `${name.padEnd(12)} p50 ${percentile(t, 50).toFixed(0).padStart(6)} ms   p95 ${percentile(t, 95).toFixed(0).padStart(6)} ms`;
console.log(`bench:start — ${COUNT} containers each way`);
console.log(row('api', apiTimes));
console.log(row('docker run', rawTimes));
console.log(`ratio api/docker-run: p50 ${(percentile(apiTimes, 50) / percentile(rawTimes, 50)).toFixed(2)}x   p95 ${(percentile(apiTimes, 95) / percentile(rawTimes, 95)).toFixed(2)}x   (target p50 ≤ 1.5x)`);
