import { Controller, Get, Inject } from '@nestjs/common';
import { Commands, type Caller, type ImageList } from '@gureum/contracts';
import { Bus } from '@gureum/messaging';
import { TenantCaller } from '../auth/tenant-caller.decorator';

/**
 * `GET /v1/images` (authorised by AccessGuard from API_ROUTES): the caller's repositories in
 * the registry with tags and bytes, and its registry storage used vs quota. The registry
 * answers for the caller's tenant only.
 */
@Controller('v1')
export class ImagesController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get('images')
  list(@TenantCaller() caller: Caller): Promise<ImageList> {
    return this.bus.request(Commands.registryImagesList.subject, { caller });
  }
}
