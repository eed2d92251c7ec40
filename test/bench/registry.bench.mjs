#!/usr/bin/env node
// bench:registry — push and pull throughput of Gureum's registry against CNCF Distribution
// (Debian's `docker-registry` package), both started here side by side on loopback ports with
// temporary storage, driven by the same client (@gureum/oci-client) in the same run. Not a
// test: it prints numbers and the ratio Gureum/Distribution per row. Not run by CI.
//
//   npm run build && npm run bench:registry
//
// The workload is issue 4's: push and pull of one 256 MiB single-layer image and of 200 small
// images. An image is what `docker push` / `docker pull` move: a layer blob and a config blob
// (each after a HEAD that asks whether the repository has it), then the manifest; a pull gets
// the manifest by tag, then its config and layer, each digest-verified while streamed.
//
// Environment: GUREUM_TEST_PG_URL (admin URL of a PostgreSQL; a temporary database is
// created), BENCH_SMALL_COUNT (200), BENCH_SMALL_MIB (1), BENCH_LARGE_COUNT (1),
// BENCH_LARGE_MIB (256), BENCH_CONCURRENCY (4), BENCH_ROUNDS (5: medians are reported).
// Installs docker-registry with apt-get when it is missing (root only).
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';

const exec = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SMALL_COUNT = Number(process.env.BENCH_SMALL_COUNT ?? 200);
const SMALL_MIB = Number(process.env.BENCH_SMALL_MIB ?? 1);
const LARGE_COUNT = Number(process.env.BENCH_LARGE_COUNT ?? 1);
const LARGE_MIB = Number(process.env.BENCH_LARGE_MIB ?? 256);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
process.env.GUREUM_TEST_PG_URL ??= 'postgres://postgres@127.0.0.1:56432/postgres';

async function load(relative) {
  const file = path.join(root, relative);
  if (!existsSync(file)) throw new Error(`${relative} is missing: run npm run build first`);
  const loaded = await import(file);
  return loaded.default ?? loaded;
}
const oci = await load('libs/oci-client/dist/index.js');
const testing = await load('libs/testing/dist/index.js');

const cleanup = [];
async function cleanupAll() {
  for (const step of cleanup.splice(0).reverse()) await step().catch((error) => console.error(`cleanup: ${error.message}`));
}
process.on('SIGINT', () => void cleanupAll().then(() => process.exit(130)));

function waitForHttp(url, accept, what) {
  return testing.waitFor(async () => {
    try {
      return accept((await fetch(url)).status);
    } catch {
      return false;
    }
  }, { timeoutMs: 30_000, intervalMs: 100, what });
}

async function startDistribution() {
  if (!existsSync('/usr/bin/docker-registry')) {
    console.log('installing docker-registry (CNCF Distribution) with apt-get');
    await exec('apt-get', ['install', '-y', '--no-install-recommends', 'docker-registry'], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  const { stdout: version } = await exec('dpkg-query', ['-W', '-f', '${Version}', 'docker-registry']).catch(() => ({ stdout: '?' }));
  const dir = await mkdtemp(path.join(tmpdir(), 'gureum-bench-distribution-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const port = await testing.freePort();
  const config = path.join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  // Distribution logs every 404 (the HEAD before each upload) at level error: keep that out of the table.
  const child = spawn('/usr/bin/docker-registry', ['serve', config], { stdio: 'ignore' });
  cleanup.push(() => stopChild(child));
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/v2/`, (status) => status === 200, 'docker-registry to answer');
  return { name: `Distribution ${version.trim()}`, url, auth: { anonymous: true } };
}

async function startGureum() {
  const registryMain = path.join(root, 'apps/registry/dist/main.js');
  const registryMigrate = path.join(root, 'apps/registry/dist/migrate.js');
  if (!existsSync(registryMain)) throw new Error('apps/registry/dist is missing: run npm run build first');
  const [database, nats] = await Promise.all([testing.createTestDatabase('registry_bench'), testing.startNats()]);
  cleanup.push(() => database.drop());
  cleanup.push(() => nats.stop());
  const dir = await mkdtemp(path.join(tmpdir(), 'gureum-bench-registry-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));

  // The api's side of `identity.cmd.credentials.verify.v1`: one API key, an owner of tenant "bench".
  const apiKey = `grm_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`;
  const nc = await connect({ servers: nats.url, user: nats.control.user, pass: nats.control.password, name: 'bench-identity' });
  cleanup.push(() => nc.drain());
  const principal = { principalId: 'bench-key', kind: 'api_key', tenantId: '00000000-0000-4000-8000-000000000001', tenantName: 'bench', role: 'owner' };
  nc.subscribe('identity.cmd.credentials.verify.v1', {
    queue: 'api',
    callback: (_error, msg) => {
      const envelope = msg.json();
      const ok = envelope.data?.credential?.apiKey === apiKey;
      msg.respond(JSON.stringify(ok ? { id: envelope.id, response: principal, isDisposed: true } : { id: envelope.id, err: { code: 'unauthenticated', message: 'invalid credentials' }, isDisposed: true }));
    },
  });
  await nc.flush();

  const port = await testing.freePort();
  const env = {
    ...process.env,
    GUREUM_DATABASE_URL: database.url,
    GUREUM_NATS_URL: nats.url,
    GUREUM_NATS_USER: nats.control.user,
    GUREUM_NATS_PASSWORD: nats.control.password,
    GUREUM_REGISTRY_HOST: '127.0.0.1',
    GUREUM_REGISTRY_PORT: String(port),
    GUREUM_REGISTRY_STORAGE_DIR: dir,
    GUREUM_REGISTRY_TOKEN_SECRET: randomBytes(32).toString('hex'),
    GUREUM_REGISTRY_DEFAULT_QUOTA_BYTES: String(1024 ** 4),
    GUREUM_LOG_LEVEL: 'warn',
  };
  await exec(process.execPath, [registryMigrate], { env });
  const child = spawn(process.execPath, [registryMain], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  cleanup.push(() => stopChild(child));
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/v2/`, (status) => status === 401, 'the Gureum registry to answer');
  return { name: 'Gureum registry', url, auth: { username: 'bench', password: apiKey } };
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** One image: a config and one layer of `bytes`; pushed exactly the way for both registries. */
async function pushImage(client, repository, tag, layer) {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, tag }));
  const layerBlob = await client.pushBlob(repository, { bytes: layer.bytes }, { digest: layer.digest, size: layer.bytes.length });
  const configBlob = await client.pushBlob(repository, { bytes: config });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configBlob.digest, size: configBlob.size },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerBlob.digest, size: layerBlob.size }],
    }),
  );
  await client.pushManifest(repository, tag, manifest, MANIFEST);
}

/** Pulls an image by tag: manifest, config and layer, every blob digest-verified while streamed. */
async function pullImage(client, repository, tag) {
  const { bytes } = await client.getManifest(repository, tag, [MANIFEST]);
  const manifest = JSON.parse(bytes.toString('utf8'));
  let total = 0;
  for (const descriptor of [manifest.config, ...manifest.layers]) {
    total += await client.pullBlob(repository, descriptor.digest, new Writable({ write: (_chunk, _encoding, callback) => callback() }), descriptor.size);
  }
  return total;
}

async function inParallel(count, concurrency, work) {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next;
      next += 1;
      await work(index);
    }
  });
  await Promise.all(workers);
}

/** The middle element by `key` (the upper middle for an even count). */
function median(values, key) {
  const sorted = [...values].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)];
}

function makeLayers(count, mib) {
  const layers = [];
  for (let i = 0; i < count; i += 1) {
    const bytes = randomBytes(mib * 1024 * 1024);
    layers.push({ bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` });
  }
  return layers;
}

async function measure(target, round, row, layers) {
  const client = new oci.OciRegistryClient(target.url, target.auth);
  const repository = `bench/${row}-r${round}`;
  const bytes = layers.reduce((sum, layer) => sum + layer.bytes.length, 0);
  // Warm-up outside the clock: the token (Gureum) and connection set-up.
  await client.hasBlob(repository, layers[0].digest);
  let started = performance.now();
  await inParallel(layers.length, CONCURRENCY, (i) => pushImage(client, repository, `t${i}`, layers[i]));
  const pushSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  let pulled = 0;
  await inParallel(layers.length, CONCURRENCY, async (i) => {
    const received = await pullImage(client, repository, `t${i}`);
    pulled += received;
  });
  const pullSeconds = (performance.now() - started) / 1000;
  if (pulled < bytes) throw new Error(`${target.name}: pulled ${pulled} bytes of ${bytes}`);
  return { push: { seconds: pushSeconds, mibps: bytes / 1024 / 1024 / pushSeconds, ips: layers.length / pushSeconds }, pull: { seconds: pullSeconds, mibps: bytes / 1024 / 1024 / pullSeconds, ips: layers.length / pullSeconds } };
}

try {
  console.log(`bench:registry — ${SMALL_COUNT} images × ${SMALL_MIB} MiB and ${LARGE_COUNT} images × ${LARGE_MIB} MiB, concurrency ${CONCURRENCY}, ${ROUNDS} rounds`);
  const [gureum, distribution] = await Promise.all([startGureum(), startDistribution()]);
  const rows = [
    { row: 'small', label: `${SMALL_COUNT} × ${SMALL_MIB} MiB images`, layers: makeLayers(SMALL_COUNT, SMALL_MIB) },
    { row: 'large', label: `${LARGE_COUNT} × ${LARGE_MIB} MiB image${LARGE_COUNT === 1 ? '' : 's'}`, layers: makeLayers(LARGE_COUNT, LARGE_MIB) },
  ];
  const results = [];
  for (const { row, label, layers } of rows) {
    // Each round measures both registries back to back (alternating who goes first), so they
    // see the same background load; the table reports the median round per registry and the
    // median of the per-round ratios (on a shared machine the best round is mostly luck).
    const rounds = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const order = round % 2 === 0 ? [distribution, gureum] : [gureum, distribution];
      const measured = {};
      for (const target of order) measured[target.name] = await measure(target, round, row, layers);
      rounds.push(measured);
    }
    for (const op of ['push', 'pull']) {
      const ours = median(rounds.map((round) => round[gureum.name][op]), (value) => value.mibps);
      const theirs = median(rounds.map((round) => round[distribution.name][op]), (value) => value.mibps);
      const ratios = rounds.map((round) => round[gureum.name][op].mibps / round[distribution.name][op].mibps);
      results.push({
        row: `${op} ${label}`,
        gureum: `${ours.mibps.toFixed(1)} MiB/s (${ours.ips.toFixed(1)} img/s, ${ours.seconds.toFixed(2)} s)`,
        distribution: `${theirs.mibps.toFixed(1)} MiB/s (${theirs.ips.toFixed(1)} img/s, ${theirs.seconds.toFixed(2)} s)`,
        ratio: `${median(ratios, (value) => value).toFixed(2)}×`,
        'ratio per round': ratios.map((value) => value.toFixed(2)).join(' '),
      });
    }
  }
  console.log(`\nGureum vs ${distribution.name} (ratio = median over rounds of Gureum throughput / Distribution throughput; ≥ 1.00× is the target)`);
  console.table(results);
} finally {
  await cleanupAll();
}
