import { ErrorCode, GureumError, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import type { Bus } from '@gureum/messaging';
import type { Logger } from 'pino';
import type { DockerEngine } from '../driver/docker/docker-engine';
import { pushError, splitReference } from '../driver/docker/docker.driver';
import type { BuildSandboxFactory, ImageArchiveEngine } from './build-sandbox';
import { stripReservedLabels } from './image-archive';

type BuildRequest = ValidRequestOf<'agent.*.cmd.build.v1'>;
type BuildReportState = 'building' | 'pushing' | 'succeeded' | 'failed';

/** What a build needs of the bus (a fake in unit tests). */
export type BuildBus = Pick<Bus, 'request'>;

/** What a build needs of the node's (host) engine: pull the authorised images, move images in and out, push. */
export type BuildEngine = Pick<DockerEngine, 'pullImage' | 'pushImage' | 'imageExists'> & ImageArchiveEngine;

export interface BuildRunnerOptions {
  /** Where each build runs: a throwaway engine per build (DockerdSandboxFactory). */
  sandboxes: BuildSandboxFactory;
  /** Operator images on the host any build may use (e.g. gureum/busybox:latest), copied into every sandbox that needs them. */
  publicImages?: readonly string[];
  /** The pids limit of all of a build's RUN steps together. */
  pidsLimit?: number;
}

export const DEFAULT_BUILD_PIDS_LIMIT = 256;

/** Log lines are sent in batches at most this often, and at every state change. */
const LOG_FLUSH_MS = 1000;
const REPORT_ATTEMPTS = 5;
/** A quiet step (a long RUN without output) still tells the api the build is alive this often. */
export const BUILD_KEEPALIVE_MS = 30_000;

/**
 * Runs builds the api assigns to this node: fetches the context in chunks over NATS (never
 * one message over the 1 MiB limit), pulls base images from our registry with the build's
 * short-lived pull tokens, builds in a throwaway sandbox engine that holds only those images
 * (no network, no shared cache, pids/CPU/memory limits, user namespaces), strips reserved
 * labels from the result, pushes it with the push token and reports state and log as it goes.
 */
export class BuildRunner {
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly bus: BuildBus,
    private readonly nodeId: string,
    private readonly engine: BuildEngine,
    private readonly logger: Logger,
    private readonly options: BuildRunnerOptions,
  ) {}

  /** Answers at once; the build runs in the background. A repeated start of a running build is a no-op. */
  accept(request: BuildRequest): ReplyOf<'agent.*.cmd.build.v1'> {
    const target = splitReference(request.image);
    if (!target || target.registry !== request.pushAuth.registry) {
      throw new GureumError(ErrorCode.ValidationFailed, `${request.image} is not a tagged reference in registry ${request.pushAuth.registry}`);
    }
    if (!this.running.has(request.buildId)) {
      const run = this.run(request, target).finally(() => this.running.delete(request.buildId));
      this.running.set(request.buildId, run);
    }
    return { accepted: true };
  }

  private async run(request: BuildRequest, target: { repository: string; tag: string }): Promise<void> {
    const log = this.logger.child({ buildId: request.buildId, tenantId: request.tenantId });
    let pending = '';
    let lastFlush = Date.now();
    let current: BuildReportState = 'building';
    // Reports go out one after another, in order: a log batch still in flight when the final
    // state is sent would otherwise arrive after it and be refused (states only move forward).
    let queue: Promise<void> = Promise.resolve();
    const report = (state: BuildReportState, extra: { digest?: string; error?: string } = {}): Promise<void> => {
      current = state;
      const text = pending;
      pending = '';
      lastFlush = Date.now();
      const sent = queue.then(() => this.report({ buildId: request.buildId, state, log: text, ...extra }));
      queue = sent.catch(() => undefined);
      return sent;
    };
    const output = (text: string) => {
      pending += text;
      if (Date.now() - lastFlush >= LOG_FLUSH_MS || pending.length > 64 * 1024) void report('building').catch(() => undefined);
    };
    const keepalive = setInterval(() => {
      if (Date.now() - lastFlush >= BUILD_KEEPALIVE_MS) void report(current).catch(() => undefined);
    }, BUILD_KEEPALIVE_MS);
    keepalive.unref();
    try {
      await report('building');
      const context = await this.fetchContext(request.buildId, request.contextBytes);
      output(`build context: ${context.length} bytes\n`);
      for (const { image, auth } of request.pullAuths) {
        output(`pulling base image ${image}\n`);
        // Always from the registry with this build's token (a tag pull fetches the manifest
        // with it, so the registry decides), never taken from the host's cache unasked.
        await this.engine.pullImage(withDefaultTag(image), { serverAddress: auth.registry, registryToken: auth.token }).catch((error: unknown) => {
          throw new Error(`image pull failed: ${error instanceof Error ? error.message.replace(/^docker pull \S+: /, '') : String(error)}`, { cause: error });
        });
      }
      const sandbox = await this.options.sandboxes.create(request.buildId, {
        cpuMillis: request.resources.cpuMillis,
        memoryMiB: request.resources.memoryMiB,
        pids: this.options.pidsLimit ?? DEFAULT_BUILD_PIDS_LIMIT,
      });
      try {
        // The sandbox starts empty: only the images this build was authorised to pull, and the
        // operator's public ones, are put in it. Anything else the Dockerfile names is absent,
        // and with no network it cannot be fetched: the build fails closed.
        for (const { image } of request.pullAuths) await sandbox.engine.loadImage(await this.engine.saveImage(withDefaultTag(image)));
        for (const image of this.options.publicImages ?? []) {
          if (await this.engine.imageExists(image)) await sandbox.engine.loadImage(await this.engine.saveImage(image));
        }
        await sandbox.engine.buildImage(context, { tag: request.image, cpuMillis: request.resources.cpuMillis, memoryMiB: request.resources.memoryMiB, labels: {} }, output);
        // Labels of the agent (`io.gureum.*`, possibly inherited from a base image) never leave in an image.
        const { archive, removed } = stripReservedLabels(await sandbox.engine.saveImage(request.image));
        if (removed.length > 0) output(`removed reserved labels from the image: ${removed.join(', ')}\n`);
        await this.engine.loadImage(archive);
      } finally {
        await sandbox.dispose();
      }
      output(`pushing ${request.image}\n`);
      await report('pushing');
      let digest: string;
      try {
        digest = await this.engine.pushImage(target.repository, target.tag, { serverAddress: request.pushAuth.registry, registryToken: request.pushAuth.token });
      } catch (error) {
        throw pushError(error);
      }
      output(`pushed ${request.image}@${digest}\n`);
      await report('succeeded', { digest });
      log.info({ image: request.image, digest }, 'build succeeded');
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)).replace(/^docker build \S+: /, 'build failed: ').slice(0, 4000);
      output(`${message}\n`);
      log.warn({ err: error }, 'build failed');
      await report('failed', { error: message }).catch((reportError: unknown) => log.error({ err: reportError }, 'could not report the failed build'));
    } finally {
      clearInterval(keepalive);
    }
  }

  private async fetchContext(buildId: string, expectedBytes: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const chunk = await this.bus.request('agent.*.req.build.context.v1', { buildId, offset }, { nodeId: this.nodeId, timeoutMs: 30_000 });
      const data = Buffer.from(chunk.data, 'base64');
      chunks.push(data);
      offset += data.length;
      if (chunk.eof) break;
      if (data.length === 0) throw new Error(`build context of ${buildId} ended early at ${offset} bytes`);
    }
    if (offset !== expectedBytes) throw new Error(`build context of ${buildId} is ${offset} bytes, expected ${expectedBytes}`);
    return Buffer.concat(chunks);
  }

  private async report(report: { buildId: string; state: BuildReportState; log: string; digest?: string; error?: string }): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.bus.request('agent.*.req.build.report.v1', report, { nodeId: this.nodeId, timeoutMs: 10_000 });
        return;
      } catch (error) {
        if (attempt >= REPORT_ATTEMPTS || (error instanceof GureumError && error.code !== ErrorCode.Unavailable && error.code !== ErrorCode.Timeout)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
      }
    }
  }
}

/** `repo` → `repo:latest` (as Docker reads a FROM without tag or digest), so a save takes that one tag only. */
export function withDefaultTag(reference: string): string {
  const last = reference.slice(reference.lastIndexOf('/') + 1);
  return last.includes(':') || last.includes('@') ? reference : `${reference}:latest`;
}
