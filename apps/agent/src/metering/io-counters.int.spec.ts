import { randomBytes, randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { createCgroupManager } from '@gureum/cgroups';
import { BUSYBOX_IMAGE, ensureBusyboxImage, waitFor } from '@gureum/testing';
import Docker from 'dockerode';
import pino from 'pino';
import { createDockerDriver } from '../driver/docker/create-docker-driver';
import type { DockerDriver } from '../driver/docker/docker.driver';
import { InMemoryTaskStateStore } from '../driver/task-state.store';
import type { TaskStatus } from '../driver';
import { createHostIoCounterSource } from './io-counters';
import { UsageSampler } from './usage-sampler';

const MiB = 1024 * 1024;

/**
 * A real container on the real engine, measured by the sampler with the host's I/O source:
 * bytes the test sends to it and receives from it (host ↔ the container's own address on its
 * tenant network) and bytes it writes to disk show up in its counters.
 */
describe('network and block-I/O counters of a real container', () => {
  const run = randomBytes(4).toString('hex');
  const nodeId = `int-io-${run}`;
  const tenantId = randomUUID();
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  let driver: DockerDriver;
  let task: TaskStatus;
  let sampler: UsageSampler;

  beforeAll(async () => {
    await ensureBusyboxImage();
    driver = createDockerDriver({ stateStore: new InMemoryTaskStateStore(), cgroups: await createCgroupManager() });
    // What the agent does at startup: on cgroup v1 block accounting needs switching on.
    const io = await createHostIoCounterSource(pino({ level: 'silent' }));
    sampler = new UsageSampler({ nodeId, intervalMs: 1000, io }, driver, () => undefined, pino({ level: 'silent' }));
    task = await driver.start({
      workloadId: randomUUID(),
      tenantId,
      nodeId,
      generation: 1,
      image: BUSYBOX_IMAGE,
      // Port 9000 swallows what it is sent; 9001 sends 3 MiB to whoever connects.
      command: ['sh', '-c', 'nc -l -p 9000 > /dev/null & dd if=/dev/zero bs=65536 count=48 2>/dev/null | nc -l -p 9001 & exec sleep 300'],
      resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 },
    });
  }, 300_000);

  afterAll(async () => {
    const containers = await docker.listContainers({ all: true, filters: { label: [`io.gureum.node=${nodeId}`] } });
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    const networks = await docker.listNetworks({ filters: { label: [`io.gureum.tenant=${tenantId}`] } });
    await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
  });

  async function sampleNow() {
    sampler.observe([task]);
    const [sample] = await sampler.sampleOnce();
    if (!sample) throw new Error('no sample');
    return sample;
  }

  async function connectTo(host: string, port: number): Promise<Socket> {
    return waitFor(
      () =>
        new Promise<Socket | undefined>((resolve) => {
          const socket = connect({ host, port }, () => resolve(socket));
          socket.once('error', () => resolve(undefined));
        }),
      { timeoutMs: 10_000, what: `the container listening on ${port}` },
    );
  }

  it('counts bytes sent to and from the container and written by it, as growing counters', async () => {
    const inspected = await docker.getContainer(task.handleId).inspect();
    const address = Object.values(inspected.NetworkSettings.Networks)[0]?.IPAddress;
    expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const before = await sampleNow();
    expect(before.networkRxBytes).toMatch(/^\d+$/);
    expect(before.blockWriteBytes).toMatch(/^\d+$/);

    // 2 MiB to the container…
    const inbound = await connectTo(address as string, 9000);
    await new Promise<void>((resolve, reject) => inbound.end(Buffer.alloc(2 * MiB, 7), () => resolve()).once('error', reject));
    // …3 MiB from it…
    const outbound = await connectTo(address as string, 9001);
    let received = 0;
    outbound.on('data', (chunk: Buffer) => (received += chunk.length));
    await new Promise<void>((resolve) => outbound.once('close', () => resolve()));
    expect(received).toBe(3 * MiB);
    // …and 8 MiB to its disk, flushed so the block layer sees it.
    const exec = await docker.getContainer(task.handleId).exec({ Cmd: ['dd', 'if=/dev/zero', 'of=/tmp/written', 'bs=1048576', 'count=8', 'conv=fsync'], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    stream.resume();
    await new Promise((resolve) => stream.once('end', resolve));
    expect((await exec.inspect()).ExitCode).toBe(0);

    // The kernel may still be finishing the receive side: the counters only ever grow.
    const after = await waitFor(
      async () => {
        const sample = await sampleNow();
        return BigInt(sample.networkRxBytes ?? '0') - BigInt(before.networkRxBytes ?? '0') >= BigInt(2 * MiB) ? sample : undefined;
      },
      { timeoutMs: 10_000, what: '2 MiB received by the container' },
    );
    const grew = (field: 'networkRxBytes' | 'networkTxBytes' | 'blockReadBytes' | 'blockWriteBytes') => Number(BigInt(after[field] ?? '0') - BigInt(before[field] ?? '0'));
    // Payload plus TCP/IP headers: at least the payload, not wildly more.
    expect(grew('networkRxBytes')).toBeGreaterThanOrEqual(2 * MiB);
    expect(grew('networkRxBytes')).toBeLessThan(2.2 * MiB);
    expect(grew('networkTxBytes')).toBeGreaterThanOrEqual(3 * MiB);
    expect(grew('networkTxBytes')).toBeLessThan(3.3 * MiB);
    expect(grew('blockWriteBytes')).toBeGreaterThanOrEqual(8 * MiB);
  }, 60_000);
});
