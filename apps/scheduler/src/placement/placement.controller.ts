import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { ExplainPlacementUseCase } from './explain-placement.usecase';

const EXPLAIN = Commands.placementExplain.subject;

/** Operator commands about placement decisions. */
@Controller()
export class PlacementController {
  constructor(private readonly explainPlacement: ExplainPlacementUseCase) {}

  @OnCommand(EXPLAIN)
  explain(@CommandPayload(EXPLAIN) request: ValidRequestOf<typeof EXPLAIN>): Promise<ReplyOf<typeof EXPLAIN>> {
    return this.explainPlacement.execute(request);
  }
}
