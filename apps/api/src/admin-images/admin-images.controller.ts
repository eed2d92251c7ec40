import { Body, Controller, Get, HttpCode, Inject, Post, Query } from '@nestjs/common';
import { Commands, type GcReport, type ImageList, type OperatorCaller } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { Context, OperatorCallerParam } from '../auth/tenant-caller.decorator';
import type { RequestContext } from '../http/http-context';
import { AdminImagesQuerySchema, RunGcBodySchema, type AdminImagesQuery, type RunGcBody } from './admin-images-http.schemas';

/** A collection walks every manifest and blob; give it longer than an ordinary command. */
const GC_TIMEOUT_MS = 120_000;

/**
 * Operator views of the registry (authorised by AccessGuard from API_ROUTES, OPERATORS only):
 * one tenant's repositories and storage used vs quota — the same registry command as the
 * tenant's own `GET /v1/images`, with an operator caller naming the tenant — and running
 * garbage collection now, answering the collection's report.
 */
@Controller('v1/admin')
export class AdminImagesController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get('images')
  list(@OperatorCallerParam() caller: OperatorCaller, @Query(new ContractPipe(AdminImagesQuerySchema, 'query parameters')) { tenantId }: AdminImagesQuery): Promise<ImageList> {
    return this.bus.request(Commands.registryImagesList.subject, { caller, tenantId });
  }

  @Post('registry/gc')
  @HttpCode(200)
  runGc(
    @Body(new ContractPipe(RunGcBodySchema, 'garbage collection request')) body: RunGcBody,
    @Context() context: RequestContext,
  ): Promise<GcReport> {
    context.auditTarget = 'registry';
    return this.bus.request(Commands.registryGcRun.subject, body, { timeoutMs: GC_TIMEOUT_MS });
  }
}
