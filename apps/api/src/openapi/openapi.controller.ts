import { Controller, Get } from '@nestjs/common';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi';

@Controller('v1/openapi.json')
export class OpenApiController {
  private document: OpenApiDocument | null = null;

  @Get()
  get(): OpenApiDocument {
    // Built on first request: schema generation is not free and most processes never serve it.
    this.document ??= buildOpenApiDocument();
    return this.document;
  }
}
