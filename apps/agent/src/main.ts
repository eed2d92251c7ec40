import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createLogger, onShutdown } from '@gureum/runtime';
import { Agent } from './agent';
import { loadAgentConfig, parseDriverArg } from './config';
import { enrol, loadAgentCredentials } from './enrolment/agent-credentials';
import { createDockerDriver, createVmDriver, FileTaskOwnershipStore, FileTaskStateStore, VmDriver, type WorkloadDriver } from './driver';
import { DockerodeEngine } from './driver/docker/dockerode.engine';
import { DockerdSandboxFactory } from './builds/build-sandbox';
import { RegistryTemplateSource } from './driver/vm/registry-template-source';
import { LocalDirTemplateSource } from './driver/vm/template-source';

const AGENT_VERSION = '0.1.0';

async function main(): Promise<void> {
  const config = loadAgentConfig();
  const driverNames = parseDriverArg(process.argv.slice(2));
  const logger = createLogger('agent', config.GUREUM_LOG_LEVEL).child({ nodeId: config.GUREUM_AGENT_NODE_ID, driver: driverNames.join(',') });

  // Tenant data (task records, VM disks and consoles): nobody but the agent lists the state dir
  // (the vm driver opens it to its QEMU user's group, 0710, when it starts a VM).
  await mkdir(config.GUREUM_AGENT_STATE_DIR, { recursive: true, mode: 0o700 });
  if (!driverNames.includes('vm')) await chmod(config.GUREUM_AGENT_STATE_DIR, 0o700);
  const stateStore = await FileTaskStateStore.open(path.join(config.GUREUM_AGENT_STATE_DIR, 'task-state.json'));
  // Which containers this agent created: the only thing that makes one ours (never a label).
  const ownership = await FileTaskOwnershipStore.open(path.join(config.GUREUM_AGENT_STATE_DIR, 'task-ownership.json'));
  const drivers: WorkloadDriver[] = [];
  for (const name of driverNames) {
    drivers.push(
      name === 'docker'
        ? createDockerDriver({ stateStore, ownership, logger })
        : await createVmDriver({
            stateDir: config.GUREUM_AGENT_STATE_DIR,
            templateRoot: config.GUREUM_AGENT_VM_TEMPLATES,
            accelerator: config.GUREUM_AGENT_VM_ACCEL,
            qemuUser: config.GUREUM_AGENT_VM_USER,
            warn: (message) => logger.warn(message),
            // Local templates, plus templates pulled from Gureum's registry on demand.
            templates: new RegistryTemplateSource(
              new LocalDirTemplateSource(config.GUREUM_AGENT_VM_TEMPLATES),
              path.join(config.GUREUM_AGENT_STATE_DIR, 'vm-template-cache'),
            ),
          }),
    );
  }
  // An enrolled node uses its own NKey; a node with a join token and no credentials enrols once;
  // otherwise the statically configured user/password (GUREUM_NATS_USER) is used.
  const identity =
    (await loadAgentCredentials(config.GUREUM_AGENT_STATE_DIR, config.GUREUM_AGENT_NODE_ID)) ??
    (config.GUREUM_JOIN_TOKEN
      ? await enrol(
          {
            stateDir: config.GUREUM_AGENT_STATE_DIR,
            nodeId: config.GUREUM_AGENT_NODE_ID,
            natsUrl: config.GUREUM_NATS_URL,
            joinToken: config.GUREUM_JOIN_TOKEN,
            enrolUser: { user: config.GUREUM_NATS_ENROL_USER, password: config.GUREUM_NATS_ENROL_PASSWORD ?? '' },
          },
          logger,
        )
      : null);
  const agent = new Agent(
    {
      nodeId: config.GUREUM_AGENT_NODE_ID,
      nats: {
        url: config.GUREUM_NATS_URL,
        ...(identity
          ? { nkeySeed: identity.nkeySeed }
          : config.GUREUM_NATS_USER
            ? { user: config.GUREUM_NATS_USER, password: config.GUREUM_NATS_PASSWORD ?? '' }
            : {}),
      },
      heartbeatMs: config.GUREUM_AGENT_HEARTBEAT_MS,
      reconcileMs: config.GUREUM_AGENT_RECONCILE_MS,
      stopTimeoutSeconds: config.GUREUM_AGENT_STOP_TIMEOUT_S,
      fenceAfterMs: config.GUREUM_AGENT_FENCE_AFTER_MS,
      labels: config.GUREUM_AGENT_LABELS,
      capacityOverrides: {
        ...(config.GUREUM_AGENT_CPU_MILLIS ? { cpuMillis: config.GUREUM_AGENT_CPU_MILLIS } : {}),
        ...(config.GUREUM_AGENT_MEMORY_MIB ? { memoryMiB: config.GUREUM_AGENT_MEMORY_MIB } : {}),
        ...(config.GUREUM_AGENT_PIDS ? { pids: config.GUREUM_AGENT_PIDS } : {}),
      },
      version: AGENT_VERSION,
      migrationHost: config.GUREUM_AGENT_MIGRATION_HOST,
      // A Docker host also builds images.
      ...(driverNames.includes('docker')
        ? {
            buildEngine: new DockerodeEngine(),
            // Each build gets its own throwaway engine (docs/builds.md, "The build sandbox").
            buildRunner: {
              sandboxes: new DockerdSandboxFactory({ nodeId: config.GUREUM_AGENT_NODE_ID, logger }),
              publicImages: config.GUREUM_BUILD_PUBLIC_IMAGES.split(',').map((image) => image.trim()).filter(Boolean),
              pidsLimit: config.GUREUM_BUILD_PIDS_LIMIT,
            },
          }
        : {}),
    },
    drivers,
    stateStore,
    logger,
  );
  onShutdown(logger, async () => {
    await agent.stop();
    // VMs keep running; only the QMP sessions go, so the next agent can reconnect.
    for (const driver of drivers) if (driver instanceof VmDriver) await driver.release();
  });
  await agent.start();
}

main().catch((error: unknown) => {
  // Boot failures (bad config, no NATS) are printed once, plainly, and exit non-zero.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
