import { Controller, Inject } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { VerifyCredentials } from './verify-credentials.usecase';

const VERIFY = Commands.identityVerifyCredentials.subject;

/** NATS commands the api serves as the owner of identities. */
@Controller()
export class IdentityController {
  constructor(@Inject(VerifyCredentials) private readonly verifyCredentials: VerifyCredentials) {}

  @OnCommand(VERIFY)
  verify(@CommandPayload(VERIFY) request: ValidRequestOf<typeof VERIFY>): Promise<ReplyOf<typeof VERIFY>> {
    return this.verifyCredentials.execute(request);
  }
}
