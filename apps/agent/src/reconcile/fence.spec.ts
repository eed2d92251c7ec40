import type { Assignment } from '@gureum/contracts';
import pino from 'pino';
import { InMemoryTaskStateStore } from '../driver';
import { DockerDriver } from '../driver/docker/docker.driver';
import { FakeDockerEngine } from '../driver/docker/testing/fake-docker-engine';
import { Fence } from './fence';
import { Reconciler } from './reconciler';

const NODE = 'node-a';
const TENANT = '3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const W1 = '11111111-1111-4111-8111-111111111111';
const W2 = '22222222-2222-4222-8222-222222222222';
const IMAGE = 'gureum/busybox:latest';

function assignment(workloadId: string): Assignment {
  return {
    workloadId,
    tenantId: TENANT,
    generation: 0,
    desiredState: 'running',
    driver: 'docker',
    spec: { image: IMAGE, command: ['sleep', '300'], env: null, resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 } },
  };
}

describe('Fence', () => {
  function setup() {
    const engine = new FakeDockerEngine();
    engine.images.add(IMAGE);
    const store = new InMemoryTaskStateStore();
    const driver = new DockerDriver(engine, { stateStore: store, cgroups: { readForPid: () => Promise.reject(new Error('unused')) } });
    const reconciler = new Reconciler(NODE, driver, store, pino({ level: 'silent' }), 1);
    let clock = 1_000_000;
    const messages: string[] = [];
    const logger = { warn: (_: object, message: string) => messages.push(message), info: (_: object, message: string) => messages.push(message), error: (_: object, message: string) => messages.push(message) };
    const fence = new Fence({ afterMs: 60_000, now: () => clock, logger, onFence: async () => (await reconciler.fence()).length });
    return { engine, reconciler, fence, messages, advance: (ms: number) => (clock += ms) };
  }

  it('stops restartable tasks once the control plane has been silent for the window, and logs it once', async () => {
    const { engine, reconciler, fence, messages, advance } = setup();
    const started = await reconciler.reconcile([assignment(W1), assignment(W2)]);
    fence.contact();
    advance(59_999);
    await fence.check();
    expect(engine.callsStartingWith('stopContainer')).toEqual([]);
    expect(fence.fenced).toBe(false);

    advance(1);
    await fence.check();
    expect(fence.fenced).toBe(true);
    for (const task of started.observed) expect((await engine.inspectContainer(task.handleId!))?.status).toBe('exited');
    // Stopped, never removed: on reconnect the agent reports them and the control plane decides.
    expect(engine.callsStartingWith('removeContainer')).toEqual([]);
    advance(10_000);
    await fence.check();
    expect(engine.callsStartingWith('stopContainer')).toHaveLength(2);
    expect(messages.filter((message) => message.startsWith('fenced'))).toHaveLength(1);

    fence.contact();
    expect(fence.fenced).toBe(false);
    expect(messages.some((message) => message.startsWith('control plane reachable again'))).toBe(true);
  });

  it('does not fence while exchanges keep succeeding', async () => {
    const { engine, reconciler, fence, advance } = setup();
    await reconciler.reconcile([assignment(W1)]);
    for (let i = 0; i < 10; i++) {
      advance(30_000);
      fence.contact();
      await fence.check();
    }
    expect(fence.fenced).toBe(false);
    expect(engine.callsStartingWith('stopContainer')).toEqual([]);
  });

  it('says how long the control plane has been silent, from the last exchange (the agent forces a full report after a gap)', () => {
    const { fence, advance } = setup();
    fence.contact();
    advance(7_500);
    expect(fence.silentMs()).toBe(7_500);
    fence.contact();
    expect(fence.silentMs()).toBe(0);
  });
});
