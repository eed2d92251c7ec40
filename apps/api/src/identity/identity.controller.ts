import { Controller, Inject } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { PrincipalStatus } from './principal-status.usecase';
import { VerifyCredentials } from './verify-credentials.usecase';

const VERIFY = Commands.identityVerifyCredentials.subject;
const STATUS = Commands.identityPrincipalStatus.subject;

/** NATS commands the api serves as the owner of identities. */
@Controller()
export class IdentityController {
  private readonly principalStatus: PrincipalStatus;

  constructor(
    @Inject(VerifyCredentials) private readonly verifyCredentials: VerifyCredentials,
    @Inject(DataSource) dataSource: DataSource,
  ) {
    this.principalStatus = new PrincipalStatus(dataSource);
  }

  @OnCommand(VERIFY)
  verify(@CommandPayload(VERIFY) request: ValidRequestOf<typeof VERIFY>): Promise<ReplyOf<typeof VERIFY>> {
    return this.verifyCredentials.execute(request);
  }

  @OnCommand(STATUS)
  status(@CommandPayload(STATUS) request: ValidRequestOf<typeof STATUS>): Promise<ReplyOf<typeof STATUS>> {
    return this.principalStatus.execute(request);
  }
}
