import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type BuildPlacement, type ValidRequestOf } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { assertMayModify, assertTenantNotSuspended } from '../common/caller-access';
import { SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { loadHostSnapshots } from '../placement/host-claims';
import { describeResources, explainNoPlacement, rankHosts, type PlacementRequest } from '../placement/placement';
import { RegistryTokens } from './registry-tokens';

export type PlaceBuildCommand = ValidRequestOf<'scheduler.cmd.build.place.v1'>;

/**
 * Chooses the Docker host a build runs on and gets the build its registry tokens: push (and
 * pull) on the target repository — only in the tenant's own namespace — and pull on every
 * base image in our registry the tenant may read. A base image of another tenant's private
 * repository is refused here, before anything is stored.
 *
 * The build's CPU and memory are enforced on the build's containers by Docker, but not
 * claimed on the host: builds are short and the host keeps headroom (see docs/builds.md).
 */
@Injectable()
export class PlaceBuildUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly registryTokens: RegistryTokens,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
  ) {}

  async execute({ caller, repository, baseImages, resources }: PlaceBuildCommand): Promise<BuildPlacement> {
    assertMayModify(caller);
    await assertTenantNotSuspended(this.dataSource.manager, caller.tenantId);
    const pushAuth = await this.registryTokens.pushAuth(caller.tenantId, repository);
    const pullAuths: BuildPlacement['pullAuths'] = [];
    for (const image of new Set(baseImages)) {
      const auth = await this.registryTokens.pullAuth(caller.tenantId, image);
      if (auth) pullAuths.push({ image, auth });
    }
    const target = `${pushAuth.registry}/${repository}`;
    const request: PlacementRequest = { tenantId: caller.tenantId, driver: 'docker', image: target, resources: { ...resources, pids: 0 } };
    const { hosts } = await loadHostSnapshots(this.dataSource.manager, request, this.settings.placement, { candidatesOnly: true });
    const [best] = rankHosts(hosts, request, this.settings.placement);
    if (!best) {
      throw new GureumError(ErrorCode.Unavailable, `no host can build now (${describeResources(request.resources)}): ${explainNoPlacement(hosts, request, this.settings.placement)}`, {
        resources,
      });
    }
    return { hostId: best.id, target, pushAuth, pullAuths };
  }
}
