import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Logger } from 'pino';
import type { HttpRequest, HttpResponse } from '../http/http-context';

/** Where the admin console's SPA is served. Outside `/v1`: these are files, not API routes. */
export const CONSOLE_PREFIX = '/console';

/** The built console next to the api in the workspace (`apps/console/dist`); GUREUM_CONSOLE_DIR overrides. */
export function defaultConsoleDir(): string {
  // This file runs from apps/api/dist/console (or apps/api/src/console under jest).
  return path.resolve(__dirname, '../../../console/dist');
}

/**
 * The console uses only the public API and needs nothing of the page's origin but itself:
 * scripts, styles and fetches to the same origin, no framing, no inline script.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/**
 * Serves the built SPA under /console/ as middleware, ahead of Nest's router: static files are
 * not API routes, so they are deliberately not in API_ROUTES (nor in the route-policy check,
 * which covers the router only). Hashed assets are cached for good; any other GET under the
 * prefix that is not a file gets index.html, so deep links (`/console/workloads/…`) work.
 * Returns false (and serves nothing) when the console has not been built.
 */
export function mountConsole(app: NestExpressApplication, consoleDir: string, logger: Logger): boolean {
  const indexFile = path.join(consoleDir, 'index.html');
  if (!existsSync(indexFile)) {
    logger.warn({ consoleDir }, 'the admin console is not built (npm run build); /console is not served');
    return false;
  }
  const indexHtml = readFileSync(indexFile);

  app.use(CONSOLE_PREFIX, (request: HttpRequest, response: HttpResponse, next: () => void) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    // `/console` itself: relative asset URLs need the trailing slash.
    if (request.originalUrl === CONSOLE_PREFIX || request.originalUrl.startsWith(`${CONSOLE_PREFIX}?`)) {
      response.writeHead(301, { Location: `${CONSOLE_PREFIX}/` }).end();
      return;
    }
    next();
  });
  app.useStaticAssets(consoleDir, {
    prefix: `${CONSOLE_PREFIX}/`,
    index: false,
    fallthrough: true,
    redirect: false,
    setHeaders: (response: HttpResponse, file: string) => {
      const immutable = file.startsWith(path.join(consoleDir, 'assets') + path.sep);
      response.setHeader('Cache-Control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  app.use(CONSOLE_PREFIX, (request: HttpRequest, response: HttpResponse, next: () => void) => {
    const method = request.method ?? 'GET';
    // A missing asset is a 404 (from Nest, as problem+json), not the page.
    if ((method !== 'GET' && method !== 'HEAD') || path.extname(request.originalUrl.split('?')[0] ?? '') !== '') {
      next();
      return;
    }
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache', 'Content-Length': indexHtml.length });
    response.end(method === 'HEAD' ? undefined : indexHtml);
  });
  logger.info({ consoleDir, path: `${CONSOLE_PREFIX}/` }, 'serving the admin console');
  return true;
}
