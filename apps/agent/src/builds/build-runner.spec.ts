import { randomBytes } from 'node:crypto';
import { BUILD_CONTEXT_CHUNK_BYTES } from '@gureum/contracts';
import pino from 'pino';
import { BuildRunner, withDefaultTag, type BuildBus } from './build-runner';
import { FakeArchiveEngine as FakeDockerEngine, FakeSandboxFactory } from './testing/fake-build-sandbox';

const BUILD = '3f0a6a8e-8d3b-4d0e-b1f4-6c2b7a9d3e11';
const TENANT = '0b7c1f7e-3a52-4c39-9d7e-2f6d8c1a9e01';
const IMAGE = '127.0.0.1:5000/acme/app:1';

interface Report {
  buildId: string;
  state: string;
  log: string;
  digest?: string;
  error?: string;
}

/** The api's side of the build subjects, in memory: serves the context in chunks, records reports. */
function fakeApi(context: Buffer) {
  const reports: Report[] = [];
  const offsets: number[] = [];
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const bus: BuildBus = {
    request: (async (subject: string, payload: { offset?: number } & Report) => {
      if (subject === 'agent.*.req.build.context.v1') {
        const offset = payload.offset ?? 0;
        offsets.push(offset);
        const chunk = context.subarray(offset, offset + BUILD_CONTEXT_CHUNK_BYTES);
        return { data: chunk.toString('base64'), eof: offset + chunk.length >= context.length };
      }
      reports.push(payload);
      if (payload.state === 'succeeded' || payload.state === 'failed') finished();
      return { applied: true };
    }) as BuildBus['request'],
  };
  return { bus, reports, offsets, done };
}

function request(contextBytes: number, overrides: Record<string, unknown> = {}) {
  return {
    buildId: BUILD,
    tenantId: TENANT,
    image: IMAGE,
    contextBytes,
    resources: { cpuMillis: 500, memoryMiB: 256 },
    pushAuth: { registry: '127.0.0.1:5000', token: 'push' },
    pullAuths: [],
    ...overrides,
  };
}

describe('BuildRunner', () => {
  const logger = pino({ level: 'silent' });

  it('fetches the context chunk by chunk, builds under the limits, pushes and reports the digest', async () => {
    const context = randomBytes(BUILD_CONTEXT_CHUNK_BYTES * 2 + 100);
    const api = fakeApi(context);
    const engine = new FakeDockerEngine();
    engine.registryImages.set('127.0.0.1:5000/acme/base:1', 'pull-tok');
    const sandboxes = new FakeSandboxFactory();
    const runner = new BuildRunner(api.bus, 'node-a', engine, logger, { sandboxes, pidsLimit: 77 });
    expect(runner.accept(request(context.length, { pullAuths: [{ image: '127.0.0.1:5000/acme/base:1', auth: { registry: '127.0.0.1:5000', token: 'pull-tok' } }] }))).toEqual({
      accepted: true,
    });
    await api.done;
    expect(api.offsets).toEqual([0, BUILD_CONTEXT_CHUNK_BYTES, 2 * BUILD_CONTEXT_CHUNK_BYTES]);
    // The build ran in its own sandbox, not on the host engine, under the build's limits.
    expect(engine.builds).toEqual([]);
    expect(sandboxes.created).toHaveLength(1);
    const sandbox = sandboxes.created[0]!;
    expect(sandbox.limits).toEqual({ cpuMillis: 500, memoryMiB: 256, pids: 77 });
    expect(sandbox.engine.builds).toEqual([{ request: { tag: IMAGE, cpuMillis: 500, memoryMiB: 256, labels: {} }, contextBytes: context.length }]);
    // Pulled on the host with the token, then moved into the sandbox; the result moved back out.
    expect(engine.images.has('127.0.0.1:5000/acme/base:1')).toBe(true);
    expect(sandbox.engine.loaded).toEqual(['127.0.0.1:5000/acme/base:1']);
    expect(engine.loaded).toEqual([IMAGE]);
    expect(sandbox.disposed).toBe(true);
    expect(api.reports.map((report) => report.state)).toEqual(expect.arrayContaining(['building', 'pushing', 'succeeded']));
    const last = api.reports.at(-1)!;
    expect(last).toMatchObject({ state: 'succeeded', digest: `sha256:${'d'.repeat(64)}` });
    expect(api.reports.map((report) => report.log).join('')).toContain('Step 1/1');
  });

  it('reports a failed build with the reason, and a refused base image pull as such', async () => {
    const context = randomBytes(100);
    const engine = new FakeDockerEngine();
    const failing = fakeApi(context);
    const sandboxes = new FakeSandboxFactory();
    sandboxes.prepare = (sandboxEngine) => (sandboxEngine.buildFailure = "The command '/bin/sh -c exit 3' returned a non-zero code: 3");
    new BuildRunner(failing.bus, 'node-a', engine, logger, { sandboxes }).accept(request(context.length));
    await failing.done;
    expect(failing.reports.at(-1)).toMatchObject({ state: 'failed', error: expect.stringMatching(/^build failed: .*non-zero code: 3/) });
    // A failed build's sandbox is removed all the same, and nothing came back to the host.
    expect(sandboxes.created.map((created) => created.disposed)).toEqual([true]);
    expect(engine.loaded).toEqual([]);

    engine.registryImages.set('127.0.0.1:5000/globex/base:1', 'other-token');
    const refused = fakeApi(context);
    new BuildRunner(refused.bus, 'node-a', engine, logger, { sandboxes }).accept(
      request(context.length, { pullAuths: [{ image: '127.0.0.1:5000/globex/base:1', auth: { registry: '127.0.0.1:5000', token: 'wrong' } }] }),
    );
    await refused.done;
    expect(refused.reports.at(-1)).toMatchObject({ state: 'failed', error: expect.stringMatching(/^image pull failed: unauthorized/) });
  });

  it('fails a context shorter than announced instead of building half of it', async () => {
    const context = randomBytes(1000);
    const api = fakeApi(context);
    const engine = new FakeDockerEngine();
    new BuildRunner(api.bus, 'node-a', engine, logger, { sandboxes: new FakeSandboxFactory() }).accept(request(2000));
    await api.done;
    expect(api.reports.at(-1)).toMatchObject({ state: 'failed', error: expect.stringMatching(/1000 bytes, expected 2000/) });
    expect(engine.builds).toHaveLength(0);
  });

  it('refuses a target outside the push token registry', () => {
    const runner = new BuildRunner(fakeApi(Buffer.alloc(1)).bus, 'node-a', new FakeDockerEngine(), logger, { sandboxes: new FakeSandboxFactory() });
    expect(() => runner.accept(request(1, { image: 'elsewhere:5000/acme/app:1' }))).toThrow(/not a tagged reference in registry 127.0.0.1:5000/);
  });

  it('puts only the authorised and the public images in the sandbox, and strips io.gureum.* labels from the result', async () => {
    const context = randomBytes(100);
    const api = fakeApi(context);
    const engine = new FakeDockerEngine();
    // On the host: another tenant's image (cached), a public operator image, the authorised base.
    engine.images.add('127.0.0.1:5000/globex/secret:1');
    engine.images.add('gureum/busybox:latest');
    engine.registryImages.set('127.0.0.1:5000/acme/base:latest', 'pull-tok');
    const sandboxes = new FakeSandboxFactory();
    sandboxes.prepare = (sandboxEngine) => (sandboxEngine.builtLabels = { 'io.gureum.workload': 'victim', 'IO.GUREUM.node': 'n', 'org.example': 'kept' });
    new BuildRunner(api.bus, 'node-a', engine, logger, { sandboxes, publicImages: ['gureum/busybox:latest', 'gureum/absent:1'] }).accept(
      request(context.length, { pullAuths: [{ image: '127.0.0.1:5000/acme/base', auth: { registry: '127.0.0.1:5000', token: 'pull-tok' } }] }),
    );
    await api.done;
    expect(api.reports.at(-1)).toMatchObject({ state: 'succeeded' });
    const sandbox = sandboxes.created[0]!;
    expect([...sandbox.engine.images].sort()).toEqual(['127.0.0.1:5000/acme/base:latest', 'gureum/busybox:latest', IMAGE].sort());
    expect(engine.labels.get(IMAGE)).toEqual({ 'org.example': 'kept' });
    expect(api.reports.map((report) => report.log).join('')).toMatch(/removed reserved labels from the image: io\.gureum\.workload, IO\.GUREUM\.node/);
    expect(engine.pushed.has(IMAGE)).toBe(true);
  });

  it('fails the build when its sandbox cannot start, without building on the host', async () => {
    const context = randomBytes(100);
    const api = fakeApi(context);
    const engine = new FakeDockerEngine();
    const sandboxes = new FakeSandboxFactory();
    sandboxes.startFailure = 'the build sandbox did not start: dockerd exited (1)';
    new BuildRunner(api.bus, 'node-a', engine, logger, { sandboxes }).accept(request(context.length));
    await api.done;
    expect(api.reports.at(-1)).toMatchObject({ state: 'failed', error: expect.stringMatching(/sandbox did not start/) });
    expect(engine.builds).toEqual([]);
    expect(engine.pushed.size).toBe(0);
  });

  it('names an untagged reference by its latest tag', () => {
    expect(withDefaultTag('127.0.0.1:5000/acme/base')).toBe('127.0.0.1:5000/acme/base:latest');
    expect(withDefaultTag('127.0.0.1:5000/acme/base:2')).toBe('127.0.0.1:5000/acme/base:2');
    expect(withDefaultTag('127.0.0.1:5000/acme/base@sha256:abc')).toBe('127.0.0.1:5000/acme/base@sha256:abc');
  });
});
