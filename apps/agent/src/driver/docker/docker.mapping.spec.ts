import type { TaskSpec } from '../driver';
import { tmpfsSizeMiB, toContainerCreate } from './docker.mapping';

const spec = (overrides: Partial<TaskSpec> = {}): TaskSpec => ({
  workloadId: 'w1',
  tenantId: 't1',
  nodeId: 'node-1',
  generation: 1,
  image: 'gureum/busybox:latest',
  resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 },
  ...overrides,
});

describe('toContainerCreate', () => {
  it('always runs Docker init as PID 1, so a stop SIGTERM reaches the tenant process', () => {
    expect(toContainerCreate(spec(), 'net').HostConfig.Init).toBe(true);
    expect(toContainerCreate(spec({ readOnlyRootFilesystem: true }), 'net').HostConfig.Init).toBe(true);
  });

  it('keeps the root filesystem writable and mounts no tmpfs by default', () => {
    const { HostConfig } = toContainerCreate(spec(), 'net');
    expect(HostConfig.ReadonlyRootfs).toBe(false);
    expect(HostConfig.Tmpfs).toBeUndefined();
    expect(toContainerCreate(spec({ readOnlyRootFilesystem: false }), 'net').HostConfig.ReadonlyRootfs).toBe(false);
  });

  it('mounts the root read-only with a writable, bounded, nosuid /tmp when asked', () => {
    const { HostConfig } = toContainerCreate(spec({ readOnlyRootFilesystem: true, resources: { cpuMillis: 500, memoryMiB: 256, pids: 64 } }), 'net');
    expect(HostConfig.ReadonlyRootfs).toBe(true);
    expect(HostConfig.Tmpfs).toEqual({ '/tmp': 'rw,nosuid,nodev,size=64m,mode=1777' });
    // The rest of the posture is unchanged.
    expect(HostConfig).toMatchObject({ CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'], Privileged: false });
  });

  it('sizes /tmp at a quarter of the memory limit, between 1 and 256 MiB', () => {
    expect(tmpfsSizeMiB(6)).toBe(1);
    expect(tmpfsSizeMiB(64)).toBe(16);
    expect(tmpfsSizeMiB(1024)).toBe(256);
    expect(tmpfsSizeMiB(65_536)).toBe(256);
  });

  it('bounds the container log on the host: json-file, 10 MiB, two files', () => {
    expect(toContainerCreate(spec(), 'net').HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } });
  });
});
