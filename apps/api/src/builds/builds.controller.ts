import { Controller, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ErrorCode, GureumError, type BuildLog, type BuildView, type Caller } from '@gureum/contracts';
import { ContractPipe } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { TenantCaller } from '../auth/tenant-caller.decorator';
import type { HttpRequest, HttpResponse } from '../http/http-context';
import { findBuild, findBuildLog } from './build.store';
import { BUILD_SETTINGS, type BuildSettings } from './build-settings';
import { CreateBuild } from './create-build.usecase';
import { CreateBuildQuerySchema } from '@gureum/contracts';

export const BuildPathSchema = z.object({ id: z.uuid({ message: 'must be a build id (a UUID)' }) }).strict();
type BuildPath = z.infer<typeof BuildPathSchema>;
type CreateBuildQuery = z.infer<typeof CreateBuildQuerySchema>;

export const BUILD_CONTEXT_MEDIA_TYPE = 'application/x-tar';

/** Tenant build routes. The POST body is the raw tar (the JSON gate lets this one route through). */
@Controller('v1/builds')
export class BuildsController {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(CreateBuild) private readonly createBuild: CreateBuild,
    @Inject(BUILD_SETTINGS) private readonly settings: BuildSettings,
  ) {}

  @Post()
  @HttpCode(202)
  async create(
    @TenantCaller() caller: Caller,
    @Query(new ContractPipe(CreateBuildQuerySchema, 'query')) query: CreateBuildQuery,
    @Req() request: HttpRequest,
    @Res({ passthrough: true }) response: HttpResponse,
  ): Promise<BuildView> {
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (mediaType !== BUILD_CONTEXT_MEDIA_TYPE) {
      throw new GureumError(ErrorCode.ValidationFailed, `the build context must be sent as ${BUILD_CONTEXT_MEDIA_TYPE}, not ${mediaType || 'no Content-Type'}`);
    }
    const context = await readBody(request, this.settings.maxContextBytes);
    const build = await this.createBuild.execute({ caller, repository: query.repository, tag: query.tag, context });
    response.setHeader('Location', `/v1/builds/${build.id}`);
    return build;
  }

  @Get(':id')
  get(@TenantCaller() caller: Caller, @Param(new ContractPipe(BuildPathSchema, 'path parameters')) { id }: BuildPath): Promise<BuildView> {
    return findBuild(this.dataSource.manager, caller.tenantId, id);
  }

  @Get(':id/log')
  log(@TenantCaller() caller: Caller, @Param(new ContractPipe(BuildPathSchema, 'path parameters')) { id }: BuildPath): Promise<BuildLog> {
    return findBuildLog(this.dataSource.manager, caller.tenantId, id);
  }
}

/** The whole body, refusing (413) a declared or actual size above `maxBytes` without buffering past it. */
async function readBody(request: HttpRequest, maxBytes: number): Promise<Buffer> {
  const tooLarge = (size: string) => new GureumError(ErrorCode.PayloadTooLarge, `the build context is ${size}; at most ${maxBytes} bytes are accepted`, { maxBytes });
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    request.resume();
    throw tooLarge(`${declared} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      request.resume();
      throw tooLarge(`more than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  if (size === 0) throw new GureumError(ErrorCode.ValidationFailed, 'the build context is empty');
  return Buffer.concat(chunks);
}
