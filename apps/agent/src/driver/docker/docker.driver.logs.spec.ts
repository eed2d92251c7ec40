import { DriverError, type LogsSpec, type TaskSpec } from '../driver';
import { InMemoryTaskStateStore } from '../task-state.store';
import { InMemoryTaskOwnershipStore } from '../task-ownership.store';
import { DockerDriver } from './docker.driver';
import { demuxLogs, nsToDockerSince } from './dockerode.engine';
import { rfc3339ToNs } from '@gureum/contracts';
import { FakeDockerEngine } from './testing/fake-docker-engine';

const IMAGE = 'gureum/busybox:latest';
const TENANT = '0b7c1f7e-3a52-4c39-9d7e-2f6d8c1a9e01';
const OTHER_TENANT = '7d2e4b1a-0c9f-4e3b-8a6d-5f1c2b3a4d5e';
const WORKLOAD = '5f0a6a8e-8d3b-4d0e-b1f4-6c2b7a9d3e11';
const NODE = 'node-a';
const NAME = `gureum-${NODE}-${WORKLOAD}`;

const task: TaskSpec = {
  workloadId: WORKLOAD,
  tenantId: TENANT,
  nodeId: NODE,
  generation: 1,
  image: IMAGE,
  command: ['sleep', '300'],
  resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 },
};

const read = (overrides: Partial<LogsSpec> = {}): LogsSpec => ({ workloadId: WORKLOAD, tenantId: TENANT, nodeId: NODE, maxBytes: 65_536, ...overrides });
const text = (logs: { entries: Array<{ stream: string; data: Buffer }> }) => logs.entries.map((entry) => `${entry.stream}:${entry.data.toString()}`);

describe('DockerDriver.logs', () => {
  let engine: FakeDockerEngine;
  let driver: DockerDriver;

  beforeEach(() => {
    engine = new FakeDockerEngine();
    engine.images.add(IMAGE);
    driver = new DockerDriver(engine, { stateStore: new InMemoryTaskStateStore(), ownership: new InMemoryTaskOwnershipStore(false), cgroups: { readForPid: () => Promise.reject(new Error('unused')) } });
  });

  it("serves its own container's stdout and stderr, in order, and says whether it runs", async () => {
    await driver.start(task);
    engine.write(NAME, 'stdout', 'out one\n');
    engine.write(NAME, 'stderr', 'err one\n');
    const logs = await driver.logs(read());
    expect(text(logs)).toEqual(['stdout:out one\n', 'stderr:err one\n']);
    expect(logs).toMatchObject({ more: false, running: true });
    engine.exit(NAME, 0);
    await expect(driver.logs(read())).resolves.toMatchObject({ running: false });
  });

  it('goes on from a cursor without repeating or losing entries of the same instant, in chunks of maxBytes', async () => {
    await driver.start(task);
    engine.write(NAME, 'stdout', 'aaaa');
    engine.write(NAME, 'stdout', 'bbbb');
    engine.write(NAME, 'stderr', 'cccc', { sameTimeAsLast: true });
    engine.write(NAME, 'stdout', 'dddd', { sameTimeAsLast: true });
    engine.write(NAME, 'stdout', 'eeee');
    const seen: string[] = [];
    let logs = await driver.logs(read({ maxBytes: 8 }));
    seen.push(...text(logs));
    expect(logs.entries).toHaveLength(2);
    expect(logs.more).toBe(true);
    while (logs.more) {
      logs = await driver.logs(read({ maxBytes: 8, cursor: logs.cursor! }));
      seen.push(...text(logs));
    }
    expect(seen).toEqual(['stdout:aaaa', 'stdout:bbbb', 'stderr:cccc', 'stdout:dddd', 'stdout:eeee']);
    // Nothing new: no entries, the cursor stays.
    const again = await driver.logs(read({ cursor: logs.cursor! }));
    expect(again.entries).toEqual([]);
    expect(again.cursor).toEqual(logs.cursor);
    engine.write(NAME, 'stdout', 'ffff');
    expect(text(await driver.logs(read({ cursor: logs.cursor! })))).toEqual(['stdout:ffff']);
  });

  it('keeps only the last entries with tail', async () => {
    await driver.start(task);
    for (const line of ['1\n', '2\n', '3\n']) engine.write(NAME, 'stdout', line);
    expect(text(await driver.logs(read({ tail: 2 })))).toEqual(['stdout:2\n', 'stdout:3\n']);
    expect(text(await driver.logs(read({ tail: 0 })))).toEqual([]);
  });

  it('never serves a container of another tenant, or one it did not create, however it is named and labelled', async () => {
    await driver.start(task);
    engine.write(NAME, 'stdout', 'secret\n');
    await expect(driver.logs(read({ tenantId: OTHER_TENANT }))).rejects.toEqual(expect.objectContaining({ name: 'DriverError', code: 'task_not_found' }));

    // An impostor: our name and labels for another workload, created behind the agent's back.
    const forgedWorkload = '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d';
    const forgedName = `gureum-${NODE}-${forgedWorkload}`;
    engine.addContainer(forgedName, { 'io.gureum.managed': 'true', 'io.gureum.node': NODE, 'io.gureum.workload': forgedWorkload, 'io.gureum.tenant': TENANT, 'io.gureum.generation': '1' }, 'running');
    engine.write(forgedName, 'stdout', 'not ours\n');
    await expect(driver.logs(read({ workloadId: forgedWorkload }))).rejects.toBeInstanceOf(DriverError);
    await expect(driver.logs(read({ workloadId: forgedWorkload }))).rejects.toEqual(expect.objectContaining({ code: 'task_not_found' }));
    expect(engine.callsStartingWith('containerLogs')).toHaveLength(0);
  });

  it('rejects ids that are not ids', async () => {
    await expect(driver.logs(read({ workloadId: '../etc' }))).rejects.toEqual(expect.objectContaining({ code: 'invalid_spec' }));
  });
});

describe("the engine's log stream", () => {
  const frame = (kind: number, payload: string) => {
    const body = Buffer.from(payload);
    const header = Buffer.alloc(8);
    header[0] = kind;
    header.writeUInt32BE(body.length, 4);
    return Buffer.concat([header, body]);
  };

  it('is split into stdout and stderr entries with their timestamps; a cut last frame is dropped', () => {
    const raw = Buffer.concat([
      frame(1, '2026-12-08T04:40:00.123456789Z hello\n'),
      frame(2, '2026-12-08T04:40:01Z oops\n'),
      frame(1, '2026-12-08T04:40:02.5Z partial').subarray(0, 12),
    ]);
    const entries = demuxLogs(raw);
    expect(entries.map((entry) => [entry.stream, entry.time, entry.data.toString()])).toEqual([
      ['stdout', '2026-12-08T04:40:00.123456789Z', 'hello\n'],
      ['stderr', '2026-12-08T04:40:01Z', 'oops\n'],
    ]);
    expect(entries[0]!.timeNs).toBe(BigInt(Date.parse('2026-12-08T04:40:00Z')) * 1_000_000n + 123_456_789n);
  });

  it("writes a cursor as the engine's seconds.nanoseconds", () => {
    const ns = rfc3339ToNs('2026-12-08T04:40:00.000000042Z')!;
    expect(nsToDockerSince(ns)).toBe(`${Date.parse('2026-12-08T04:40:00Z') / 1000}.000000042`);
    expect(rfc3339ToNs('yesterday')).toBeNull();
  });
});
