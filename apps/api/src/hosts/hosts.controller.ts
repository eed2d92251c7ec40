import { Body, Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { Commands, type HostAction, type HostList, type HostView, type JoinToken, type OperatorCaller } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { Context, OperatorCallerParam } from '../auth/tenant-caller.decorator';
import type { RequestContext } from '../http/http-context';
import { CreateJoinTokenBodySchema, HostPathSchema, type CreateJoinTokenBody, type HostPath } from './host-http.schemas';

const PATH = new ContractPipe(HostPathSchema, 'path parameters');

/** Operator routes over compute hosts (authorised by AccessGuard from API_ROUTES); the scheduler owns hosts. */
@Controller('v1/admin')
export class HostsController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get('hosts')
  list(@OperatorCallerParam() caller: OperatorCaller): Promise<HostList> {
    return this.bus.request(Commands.hostList.subject, { caller });
  }

  @Get('hosts/:id')
  get(@OperatorCallerParam() caller: OperatorCaller, @Param(PATH) { id }: HostPath): Promise<HostView> {
    return this.bus.request(Commands.hostGet.subject, { caller, hostId: id });
  }

  @Post('hosts/:id/cordon')
  @HttpCode(200)
  cordon(@OperatorCallerParam() caller: OperatorCaller, @Param(PATH) { id }: HostPath, @Context() context: RequestContext): Promise<HostView> {
    return this.act(caller, id, 'cordon', context);
  }

  @Post('hosts/:id/uncordon')
  @HttpCode(200)
  uncordon(@OperatorCallerParam() caller: OperatorCaller, @Param(PATH) { id }: HostPath, @Context() context: RequestContext): Promise<HostView> {
    return this.act(caller, id, 'uncordon', context);
  }

  @Post('hosts/:id/drain')
  @HttpCode(200)
  drain(@OperatorCallerParam() caller: OperatorCaller, @Param(PATH) { id }: HostPath, @Context() context: RequestContext): Promise<HostView> {
    return this.act(caller, id, 'drain', context);
  }

  @Post('hosts/:id/maintenance')
  @HttpCode(200)
  maintenance(@OperatorCallerParam() caller: OperatorCaller, @Param(PATH) { id }: HostPath, @Context() context: RequestContext): Promise<HostView> {
    return this.act(caller, id, 'maintenance', context);
  }

  @Post('hosts/:id/decommission')
  @HttpCode(200)
  decommission(@OperatorCallerParam() caller: OperatorCaller, @Param(PATH) { id }: HostPath, @Context() context: RequestContext): Promise<HostView> {
    return this.act(caller, id, 'decommission', context);
  }

  @Post('join-tokens')
  @HttpCode(201)
  createJoinToken(
    @OperatorCallerParam() caller: OperatorCaller,
    @Body(new ContractPipe(CreateJoinTokenBodySchema, 'join token')) body: CreateJoinTokenBody,
    @Context() context: RequestContext,
  ): Promise<JoinToken> {
    context.auditTarget = body.nodeId ? `host:${body.nodeId}` : 'host:*';
    return this.bus.request(Commands.hostJoinTokenCreate.subject, { caller, ttlSeconds: body.ttlSeconds, ...(body.nodeId ? { nodeId: body.nodeId } : {}) });
  }

  private act(caller: OperatorCaller, hostId: string, action: HostAction, context: RequestContext): Promise<HostView> {
    context.auditTarget = `host:${hostId}`;
    return this.bus.request(Commands.hostAction.subject, { caller, hostId, action });
  }
}
