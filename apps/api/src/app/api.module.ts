import { Module, type DynamicModule } from '@nestjs/common';
import { Bus } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { ApiKeyGuard } from '../auth/api-key.guard';
import { ApiKeyVerifier } from '../auth/api-key-verifier';
import { HealthController } from '../health/health.controller';
import { NatsConnectionState } from '../health/nats-connection-state';
import { OpenApiController } from '../openapi/openapi.controller';
import { WorkloadsController } from '../workloads/workloads.controller';

/** Connections are opened (and closed) by the bootstrap, which owns their lifecycle; the module only wires them in. */
export interface ApiModuleDependencies {
  dataSource: DataSource;
  bus: Bus;
  natsState: NatsConnectionState;
  apiKeyVerifier: ApiKeyVerifier;
}

@Module({})
export class ApiModule {
  static register(dependencies: ApiModuleDependencies): DynamicModule {
    return {
      module: ApiModule,
      controllers: [HealthController, OpenApiController, WorkloadsController],
      providers: [
        { provide: DataSource, useValue: dependencies.dataSource },
        { provide: Bus, useValue: dependencies.bus },
        { provide: NatsConnectionState, useValue: dependencies.natsState },
        { provide: ApiKeyVerifier, useValue: dependencies.apiKeyVerifier },
        ApiKeyGuard,
      ],
    };
  }
}
