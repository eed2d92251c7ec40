import { Module, type DynamicModule } from '@nestjs/common';
import { Bus } from '@gureum/messaging';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeysController } from '../apikeys/api-keys.controller';
import { AuditController } from '../audit/audit.controller';
import { AccessGuard } from '../auth/access-guard';
import { AuthController } from '../auth/auth.controller';
import { SessionService } from '../sessions/session.service';
import { TenantsController } from '../tenants/tenants.controller';
import { UsersController } from '../users/users.controller';
import { ApiKeyVerifier } from '../auth/api-key-verifier';
import { PasswordAuthenticator } from '../auth/password-authenticator';
import { RateLimiter, SourceFailureLimiter } from '../auth/rate-limiter';
import { IdentityController } from '../identity/identity.controller';
import { VerifyCredentials } from '../identity/verify-credentials.usecase';
import { API_LOGGER, OUTBOX_KICK, STREAM_RECHECK_MS } from './tokens';
import { HealthController } from '../health/health.controller';
import { NatsConnectionState } from '../health/nats-connection-state';
import { OpenApiController } from '../openapi/openapi.controller';
import { WorkloadsController } from '../workloads/workloads.controller';
import { UsageController } from '../usage/usage.controller';
import { QuotasController } from '../quotas/quotas.controller';
import { ImagesController } from '../images/images.controller';
import { HostsController } from '../hosts/hosts.controller';
import { VmWorkloadsController } from '../workloads/vm-workloads.controller';
import { ContainerLogsController } from '../workloads/container-logs.controller';
import { TenantNameController } from '../identity/tenant-name.controller';
import { CommitController } from '../images/commit.controller';
import { AdminImagesController } from '../admin-images/admin-images.controller';
import { BuildAgentController } from '../builds/build-agent.controller';
import { BUILD_SETTINGS, buildSettingsFromEnv } from '../builds/build-settings';
import { BuildsController } from '../builds/builds.controller';
import { CreateBuild } from '../builds/create-build.usecase';
import { BuildReaper } from '../builds/build-reaper';
import { AdminWorkloadsController } from '../admin-workloads/admin-workloads.controller';
import { EventFeed } from '../events/event-feed';
import { EventStreamController } from '../events/event-stream.controller';
import { WorkloadEventsController } from '../events/workload-events.controller';
import { BillingAdminController } from '../billing/billing-admin.controller';
import { BillingController } from '../billing/billing.controller';
import { WorkloadAdmission } from '../billing/workload-admission';

/** Connections are opened (and closed) by the bootstrap, which owns their lifecycle; the module only wires them in. */
export interface ApiModuleDependencies {
  dataSource: DataSource;
  bus: Bus;
  natsState: NatsConnectionState;
  apiKeyVerifier: ApiKeyVerifier;
  passwords: PasswordAuthenticator;
  perApiKey: RateLimiter;
  /** Failed bearer-credential checks per source address (default: 50, then 10 a minute). */
  failedCredentialsBySource?: SourceFailureLimiter;
  /** How often an open event stream re-checks its credential (default 5 s). */
  streamRecheckMs?: number;
  verifyCredentials: VerifyCredentials;
  sessions: SessionService;
  logger: Logger;
  /** Live events for `GET /v1/events/stream`. */
  eventFeed: EventFeed;
  /** Billing's hard-limit check on workload creates. */
  workloadAdmission: WorkloadAdmission;
  /** Drains the outbox now (after a commit that enqueued events); without it, the relay's poll does. */
  outboxKick?: () => void;
}

@Module({})
export class ApiModule {
  static register(dependencies: ApiModuleDependencies): DynamicModule {
    return {
      module: ApiModule,
      controllers: [
        HealthController,
        OpenApiController,
        WorkloadsController,
        UsageController,
        AuthController,
        TenantsController,
        UsersController,
        ApiKeysController,
        AuditController,
        IdentityController,
        QuotasController,
        ImagesController,
        HostsController,
        VmWorkloadsController,
        ContainerLogsController,
        TenantNameController,
        CommitController,
        AdminImagesController,
        BuildsController,
        BuildAgentController,
        AdminWorkloadsController,
        WorkloadEventsController,
        EventStreamController,
        BillingController,
        BillingAdminController,
      ],
      providers: [
        { provide: DataSource, useValue: dependencies.dataSource },
        { provide: Bus, useValue: dependencies.bus },
        { provide: NatsConnectionState, useValue: dependencies.natsState },
        { provide: ApiKeyVerifier, useValue: dependencies.apiKeyVerifier },
        { provide: PasswordAuthenticator, useValue: dependencies.passwords },
        { provide: RateLimiter, useValue: dependencies.perApiKey },
        { provide: SourceFailureLimiter, useValue: dependencies.failedCredentialsBySource ?? new SourceFailureLimiter(50, 10 / 60) },
        { provide: STREAM_RECHECK_MS, useValue: dependencies.streamRecheckMs ?? 5000 },
        { provide: VerifyCredentials, useValue: dependencies.verifyCredentials },
        { provide: API_LOGGER, useValue: dependencies.logger },
        { provide: SessionService, useValue: dependencies.sessions },
        { provide: BUILD_SETTINGS, useFactory: () => buildSettingsFromEnv() },
        CreateBuild,
        BuildReaper,
        { provide: EventFeed, useValue: dependencies.eventFeed },
        { provide: WorkloadAdmission, useValue: dependencies.workloadAdmission },
        { provide: OUTBOX_KICK, useValue: dependencies.outboxKick ?? (() => undefined) },
        // The one guard of every HTTP route; it skips RPC handlers.
        { provide: APP_GUARD, useClass: AccessGuard },
      ],
    };
  }
}
