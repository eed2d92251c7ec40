import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { CommitWorkloadUseCase } from './commit-workload.usecase';
import { PlaceBuildUseCase } from './place-build.usecase';

const COMMIT = Commands.workloadCommit.subject;
const PLACE_BUILD = Commands.buildPlace.subject;

/** Image commands from the api (commit; builds are placed here too). */
@Controller()
export class ImageController {
  constructor(
    private readonly commitWorkload: CommitWorkloadUseCase,
    private readonly placeBuild: PlaceBuildUseCase,
  ) {}

  @OnCommand(PLACE_BUILD)
  place(@CommandPayload(PLACE_BUILD) request: ValidRequestOf<typeof PLACE_BUILD>): Promise<ReplyOf<typeof PLACE_BUILD>> {
    return this.placeBuild.execute(request);
  }

  @OnCommand(COMMIT)
  commit(@CommandPayload(COMMIT) request: ValidRequestOf<typeof COMMIT>): Promise<ReplyOf<typeof COMMIT>> {
    return this.commitWorkload.execute(request);
  }
}
