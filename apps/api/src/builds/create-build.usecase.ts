import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Commands, ErrorCode, GureumError, type BuildView, type Caller } from '@gureum/contracts';
import { Bus } from '@gureum/messaging';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { API_LOGGER } from '../app/tokens';
import { analyseDockerfile, BuildContextRefused, readDockerfile } from './build-context';
import { applyBuildReport, insertBuild } from './build.store';
import { BUILD_SETTINGS, type BuildSettings } from './build-settings';

export interface CreateBuildCommand {
  caller: Caller;
  repository: string;
  tag: string;
  context: Buffer;
}

/**
 * Accepts a build: the context must be a tar with a root Dockerfile; the scheduler picks the
 * host and gets the tokens (refusing a target outside the tenant's namespace or a base image
 * the tenant may not pull) before anything is stored; then the record and the context are
 * written and the agent is told to start. A failure to reach the agent fails the build.
 */
@Injectable()
export class CreateBuild {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(Bus) private readonly bus: Bus,
    @Inject(BUILD_SETTINGS) private readonly settings: BuildSettings,
    @Inject(API_LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, repository, tag, context }: CreateBuildCommand): Promise<BuildView> {
    let images: string[];
    try {
      const dockerfile = readDockerfile(context);
      if (dockerfile === null) throw new GureumError(ErrorCode.ValidationFailed, 'the build context must be a tar archive with a Dockerfile at its root');
      images = analyseDockerfile(dockerfile).images;
    } catch (error) {
      if (!(error instanceof BuildContextRefused)) throw error;
      throw new GureumError(ErrorCode.ValidationFailed, error.message, { issues: [{ path: 'context', message: error.message }], rule: error.rule });
    }
    const resources = this.settings.resources;
    // Every image the Dockerfile can use is authorised here (the scheduler asks the registry for
    // a pull token per image); the agent's sandbox holds only those.
    const placement = await this.bus.request(Commands.buildPlace.subject, { caller, repository, baseImages: images, resources });
    const id = randomUUID();
    const image = `${placement.target}:${tag}`;
    const build = await insertBuild(this.dataSource.manager, {
      id,
      tenantId: caller.tenantId,
      repository,
      tag,
      image,
      hostId: placement.hostId,
      ...resources,
      context,
    });
    try {
      await this.bus.request(
        Commands.agentBuild.subject,
        { buildId: id, tenantId: caller.tenantId, image, contextBytes: context.length, resources, pushAuth: placement.pushAuth, pullAuths: placement.pullAuths },
        { nodeId: placement.hostId },
      );
    } catch (error) {
      const message = `the build host ${placement.hostId} did not take the build: ${error instanceof Error ? error.message : String(error)}`;
      await applyBuildReport(this.dataSource.manager, placement.hostId, { buildId: id, state: 'failed', log: '', error: message });
      this.logger.warn({ err: error, buildId: id, tenantId: caller.tenantId, hostId: placement.hostId }, 'build not started');
      return { ...build, state: 'failed', error: message };
    }
    this.logger.info({ buildId: id, tenantId: caller.tenantId, hostId: placement.hostId, image, contextBytes: context.length, requestId: caller.requestId }, 'build started');
    return build;
  }
}
