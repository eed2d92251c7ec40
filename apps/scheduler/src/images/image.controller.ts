import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { CommitWorkloadUseCase } from './commit-workload.usecase';

const COMMIT = Commands.workloadCommit.subject;

/** Image commands from the api (commit; builds are placed here too). */
@Controller()
export class ImageController {
  constructor(private readonly commitWorkload: CommitWorkloadUseCase) {}

  @OnCommand(COMMIT)
  commit(@CommandPayload(COMMIT) request: ValidRequestOf<typeof COMMIT>): Promise<ReplyOf<typeof COMMIT>> {
    return this.commitWorkload.execute(request);
  }
}
