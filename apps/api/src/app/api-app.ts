import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { Transport, type NatsOptions } from '@nestjs/microservices';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { Bus, connectNats, ensureEventsStream, nestNatsOptions, OutboxRelay, RpcErrorFilter, type NatsConnection } from '@gureum/messaging';
import { createLogger, PinoNestLogger, type Logger } from '@gureum/runtime';
import type { DataSource } from 'typeorm';
import { ApiKeyVerifier } from '../auth/api-key-verifier';
import { TypeOrmApiKeyStore } from '../auth/api-key.store';
import { PasswordAuthenticator } from '../auth/password-authenticator';
import { LoginThrottle, RateLimiter, SourceFailureLimiter, type LoginThrottleOptions } from '../auth/rate-limiter';
import type { ApiConfig } from '../config/api.config';
import { createApiDataSource, pendingApiMigrations } from '../database/api-data-source';
import { NatsConnectionState } from '../health/nats-connection-state';
import { isJsonMediaType, jsonBodyGate, MAX_BODY_BYTES, rejectUnstorableStrings } from '../http/json-body.middleware';
import { isBuildContextUpload } from '../builds/build-settings';
import { ProblemFilter } from '../http/problem.filter';
import { requestContextMiddleware } from '../http/request-context.middleware';
import { VerifyCredentials } from '../identity/verify-credentials.usecase';
import { auditMiddleware } from '../audit/audit-trail';
import { assertEveryRouteHasPolicy, registeredExpressRoutes } from '../auth/policy';
import { SessionService } from '../sessions/session.service';
import { ApiModule } from './api.module';
import { defaultConsoleDir, mountConsole } from '../console/console-static';
import { JetStreamEventFeed } from '../events/event-feed';
import { WorkloadAdmission } from '../billing/workload-admission';

export interface ApiAppOptions {
  /** Defaults to JSON lines on stdout; tests pass one that writes where they can read it. */
  logger?: Logger;
  /** How long to wait for the scheduler's reply before answering 504. */
  busTimeoutMs?: number;
  /** Requests per API key: burst and sustained rate. */
  apiKeyRateLimit?: { burst: number; perSecond: number };
  /** Password attempts per login: burst and sustained rate, and the backoff after failures. */
  /** Failed logins per login (every source) before its checks are slowed. */
  loginRateLimit?: { burst: number; perSecond: number };
  /** Backoff per (login, source address). */
  loginBackoff?: { freeFailures: number; baseDelayMs: number; maxDelayMs: number };
  /** The rest of the login throttle (per-source failure budget, slowdown). */
  streamRecheckMs?: number;
  loginThrottle?: Omit<LoginThrottleOptions, 'pair' | 'loginFailureBurst' | 'loginFailuresPerSecond'>;
  /** The built admin console served under /console/; defaults to apps/console/dist of the workspace. */
  consoleDir?: string;
}

export interface ApiApp {
  app: NestExpressApplication;
  /** Base URL the server listens on, e.g. `http://127.0.0.1:41235`. */
  url: string;
  /** Stops accepting requests, lets in-flight ones finish, then closes NATS and the database. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the HTTP API: opens the database (refusing to serve a schema with pending
 * migrations) and NATS, builds the Nest app and listens. Everything opened is closed again if
 * a later step fails.
 */
export async function createApiApp(config: ApiConfig, options: ApiAppOptions = {}): Promise<ApiApp> {
  const logger = options.logger ?? createLogger('api', config.logLevel);
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error: unknown) => logger.error({ err: error }, 'error while closing'));
    }
  };

  try {
    const dataSource = await openDatabase(config.databaseUrl);
    cleanups.push(() => dataSource.destroy());

    const nc = await connectNats({ url: config.nats.url, user: config.nats.user, password: config.nats.password, name: 'gureum-api' });
    const natsState = new NatsConnectionState(nc);
    cleanups.push(() => closeNats(nc, natsState));
    // The api's own facts (a tenant deleted) leave through its outbox, after their commit.
    await ensureEventsStream(nc);
    const relay = new OutboxRelay(dataSource, nc, logger.child({ component: 'outbox' }));
    relay.start();
    cleanups.push(() => relay.stop());

    const apiKeyVerifier = new ApiKeyVerifier(new TypeOrmApiKeyStore(dataSource), {
      onMarkUsedError: (error, keyId) => logger.warn({ err: error, keyId }, 'could not record API key use'),
    });
    const bus = new Bus(nc, options.busTimeoutMs);
    const configured = config.rateLimits;
    const apiKeyLimit = options.apiKeyRateLimit ?? (configured ? { burst: configured.apiBurst, perSecond: configured.apiPerSecond } : { burst: 100, perSecond: 20 });
    const perApiKey = new RateLimiter(apiKeyLimit.burst, apiKeyLimit.perSecond);
    const loginLimit =
      options.loginRateLimit ?? (configured ? { burst: configured.loginBurst, perSecond: configured.loginPerMinute / 60 } : { burst: 20, perSecond: 20 / 60 });
    const sourceBudget: Pick<LoginThrottleOptions, 'sourceFailureBurst' | 'sourceFailuresPerSecond'> = {
      sourceFailureBurst: options.loginThrottle?.sourceFailureBurst ?? configured?.sourceFailureBurst ?? 50,
      sourceFailuresPerSecond: options.loginThrottle?.sourceFailuresPerSecond ?? (configured?.sourceFailuresPerMinute ?? 10) / 60,
    };
    // Failed API-key / token checks per source address: each one may cost a scrypt.
    const failedCredentialsBySource = new SourceFailureLimiter(sourceBudget.sourceFailureBurst!, sourceBudget.sourceFailuresPerSecond!);
    const passwords = new PasswordAuthenticator(
      dataSource,
      new LoginThrottle({
        ...(options.loginBackoff ? { pair: options.loginBackoff } : {}),
        loginFailureBurst: loginLimit.burst,
        loginFailuresPerSecond: loginLimit.perSecond,
        ...sourceBudget,
        ...options.loginThrottle,
      }),
    );
    const verifyCredentials = new VerifyCredentials(dataSource, apiKeyVerifier, passwords, perApiKey, logger.child({ component: 'identity' }));

    const app = await NestFactory.create<NestExpressApplication>(
      ApiModule.register({
        dataSource,
        bus,
        natsState,
        apiKeyVerifier,
        passwords,
        perApiKey,
        failedCredentialsBySource,
        streamRecheckMs: options.streamRecheckMs ?? config.streamRecheckMs ?? 5000,
        verifyCredentials,
        sessions: new SessionService(dataSource),
        logger,
        eventFeed: new JetStreamEventFeed(nc),
        workloadAdmission: new WorkloadAdmission(bus, config.billingAdmission ?? 'off', logger.child({ component: 'billing-admission' })),
        outboxKick: () => relay.kick(),
      }),
      new ExpressAdapter(),
      { bodyParser: false, logger: new PinoNestLogger(logger.child({ component: 'nest' })), abortOnError: false },
    );
    cleanups.push(() => app.close());
    app.disable('x-powered-by');
    // Order matters: the request id must exist before anything can fail, and the gate must
    // reject oversized or non-JSON bodies before the parser reads them.
    app.use(requestContextMiddleware(logger));
    mountConsole(app, options.consoleDir ?? defaultConsoleDir(), logger.child({ component: 'console' }));
    app.use(auditMiddleware(dataSource, logger));
    app.use(jsonBodyGate(MAX_BODY_BYTES, isBuildContextUpload));
    app.useBodyParser('json', { limit: MAX_BODY_BYTES, strict: true, reviver: rejectUnstorableStrings, type: (request: IncomingMessage) => isJsonMediaType(request.headers['content-type']) });
    app.useGlobalFilters(new ProblemFilter(logger));
    // Hybrid: the api also serves identity commands over NATS. Global HTTP filters are not
    // inherited, so RPC errors go through RpcErrorFilter and never become problem documents.
    const microservice = app.connectMicroservice<NatsOptions>(
      {
        transport: Transport.NATS,
        options: nestNatsOptions({ url: config.nats.url, user: config.nats.user, password: config.nats.password, name: 'gureum-api-rpc' }, 'api'),
      },
      // Listeners are bound at init; deferring lets the filter below be registered first.
      { deferInitialization: true },
    );
    microservice.useGlobalFilters(new RpcErrorFilter(logger));
    await app.startAllMicroservices();

    await app.init();
    assertEveryRouteHasPolicy(registeredExpressRoutes(app.getHttpAdapter().getInstance()));
    await app.listen(config.port, config.host);
    const address = app.getHttpServer().address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    logger.info({ url }, 'api listening');

    let closing: Promise<void> | null = null;
    return { app, url, close: () => (closing ??= closeAll()) };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

async function openDatabase(databaseUrl: string): Promise<DataSource> {
  const dataSource = createApiDataSource(databaseUrl);
  await dataSource.initialize();
  try {
    const pending = await pendingApiMigrations(dataSource);
    if (pending.length > 0) throw new Error(`the api database schema is behind (pending: ${pending.join(', ')}); run migrate.js first`);
    return dataSource;
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
}

const NATS_DRAIN_TIMEOUT_MS = 5000;

/**
 * Drains, so replies to in-flight requests still arrive. A drain fails while disconnected and
 * may wait on a reconnect that never comes; then the connection is closed outright, or its
 * reconnect loop would keep the process alive.
 */
async function closeNats(nc: NatsConnection, state: NatsConnectionState): Promise<void> {
  if (!nc.isClosed()) {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), NATS_DRAIN_TIMEOUT_MS);
    });
    const outcome = await Promise.race([nc.drain().then(() => 'drained' as const, () => 'failed' as const), timedOut]);
    clearTimeout(timer);
    if (outcome !== 'drained' && !nc.isClosed()) await nc.close();
  }
  await state.stopped();
}
