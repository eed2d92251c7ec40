import { Module, type DynamicModule } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import { Bus, OutboxRelay } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { AfterCommit } from './common/after-commit';
import { SignalErrorFilter } from './common/signal-error.filter';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from './common/tokens';
import { HostController } from './hosts/host.controller';
import { HostMonitor } from './hosts/host-monitor';
import { MarkLostHostsUseCase } from './hosts/mark-lost-hosts.usecase';
import { RecordHeartbeatUseCase } from './hosts/record-heartbeat.usecase';
import { HeartbeatReceipts } from './hosts/heartbeat-receipts';
import { DrainHostsUseCase } from './hosts/drain-hosts.usecase';
import { HostActionUseCase } from './hosts/host-action.usecase';
import { HostAdminController } from './hosts/host-admin.controller';
import { ListHostsUseCase } from './hosts/list-hosts.usecase';
import { VM_EVACUATOR } from './hosts/vm-evacuator';
import { AGENT_AUTHORIZATION, NatsAuthFile, NoAgentAuthorization } from './hosts/enrolment/agent-authorization';
import { CreateJoinTokenUseCase } from './hosts/enrolment/create-join-token.usecase';
import { EnrolAgentUseCase } from './hosts/enrolment/enrol-agent.usecase';
import { EnrolmentController } from './hosts/enrolment/enrolment.controller';
import { SyncAgentAuthorizationUseCase } from './hosts/enrolment/sync-agent-authorization.usecase';
import { PlacePendingWorkloadUseCase } from './placement/place-pending-workload.usecase';
import { PlacementKicker } from './placement/placement-kicker';
import { PlacementLoop } from './placement/placement-loop';
import { AgentController } from './reconciliation/agent.controller';
import { ApplyStatusReportUseCase } from './reconciliation/apply-status-report.usecase';
import { ListAssignmentsUseCase } from './reconciliation/list-assignments.usecase';
import { CreateWorkloadUseCase } from './workloads/create-workload.usecase';
import { DeleteWorkloadUseCase } from './workloads/delete-workload.usecase';
import { GetWorkloadUseCase } from './workloads/get-workload.usecase';
import { ListWorkloadsUseCase } from './workloads/list-workloads.usecase';
import { StartWorkloadUseCase } from './workloads/start-workload.usecase';
import { StopWorkloadUseCase } from './workloads/stop-workload.usecase';
import { WorkloadController } from './workloads/workload.controller';
import { ResumeTenantUseCase } from './tenants/resume-tenant.usecase';
import { SuspendTenantUseCase } from './tenants/suspend-tenant.usecase';
import { TenantController } from './tenants/tenant.controller';
import { ExplainPlacementUseCase } from './placement/explain-placement.usecase';
import { PlacementController } from './placement/placement.controller';
import { GetQuotaUseCase } from './quotas/get-quota.usecase';
import { QuotaController } from './quotas/quota.controller';
import { SetTenantQuotaUseCase } from './quotas/set-tenant-quota.usecase';
import { LiveMigrationVmEvacuator } from './vms/live-migration-evacuator';
import { MigrateWorkloadUseCase } from './vms/migrate-workload.usecase';
import { SaveSnapshotTemplateUseCase } from './vms/save-snapshot-template.usecase';
import { RecoverMigrationsUseCase } from './vms/recover-migrations.usecase';
import { VmController } from './vms/vm.controller';
import { VmOperationsUseCase } from './vms/vm-operations.usecase';
import { REGISTRY_ADDRESS, RegistryTokens } from './images/registry-tokens';
import { CommitWorkloadUseCase } from './images/commit-workload.usecase';
import { ImageController } from './images/image.controller';
import { PlaceBuildUseCase } from './images/place-build.usecase';
import { AdminGetWorkloadUseCase } from './workloads/admin-get-workload.usecase';
import { AdminListWorkloadsUseCase } from './workloads/admin-list-workloads.usecase';
import { AdminWorkloadActionUseCase } from './workloads/admin-workload-action.usecase';
import { AdminWorkloadController } from './workloads/admin-workload.controller';
import { ListWorkloadEventsUseCase } from './workloads/list-workload-events.usecase';
import { HostIndex } from './placement/host-index';

/** Connections and settings created by the bootstrap, handed to Nest as ready-made values. */
export interface SchedulerInfrastructure {
  dataSource: DataSource;
  bus: Bus;
  relay: OutboxRelay;
  logger: Logger;
  settings: SchedulerSettings;
  /** Gureum's registry (`host:port`), or null. */
  registryAddress?: string | null;
}

@Module({})
export class SchedulerModule {
  static register(infrastructure: SchedulerInfrastructure): DynamicModule {
    return {
      module: SchedulerModule,
      controllers: [
        WorkloadController,
        HostController,
        AgentController,
        TenantController,
        QuotaController,
        PlacementController,
        HostAdminController,
        EnrolmentController,
        VmController,
        ImageController,
        AdminWorkloadController,
      ],
      providers: [
        { provide: DataSource, useValue: infrastructure.dataSource },
        { provide: Bus, useValue: infrastructure.bus },
        { provide: OutboxRelay, useValue: infrastructure.relay },
        { provide: LOGGER, useValue: infrastructure.logger },
        { provide: SCHEDULER_SETTINGS, useValue: infrastructure.settings },
        AfterCommit,
        SignalErrorFilter,
        PlacementKicker,
        CreateWorkloadUseCase,
        GetWorkloadUseCase,
        ListWorkloadsUseCase,
        StopWorkloadUseCase,
        StartWorkloadUseCase,
        DeleteWorkloadUseCase,
        SuspendTenantUseCase,
        ResumeTenantUseCase,
        { provide: HeartbeatReceipts, useFactory: () => new HeartbeatReceipts() },
        RecordHeartbeatUseCase,
        MarkLostHostsUseCase,
        HostMonitor,
        PlacePendingWorkloadUseCase,
        PlacementLoop,
        ListAssignmentsUseCase,
        ApplyStatusReportUseCase,
        GetQuotaUseCase,
        SetTenantQuotaUseCase,
        ExplainPlacementUseCase,
        // Hosts: operator lifecycle and drain.
        DrainHostsUseCase,
        HostActionUseCase,
        ListHostsUseCase,
        // Draining a host live-migrates its running VMs.
        { provide: VM_EVACUATOR, useClass: LiveMigrationVmEvacuator },
        {
          provide: AGENT_AUTHORIZATION,
          useValue: infrastructure.settings.natsAuth ? new NatsAuthFile(infrastructure.settings.natsAuth) : new NoAgentAuthorization(),
        },
        CreateJoinTokenUseCase,
        EnrolAgentUseCase,
        VmOperationsUseCase,
        MigrateWorkloadUseCase,
        SaveSnapshotTemplateUseCase,
        RecoverMigrationsUseCase,
        { provide: REGISTRY_ADDRESS, useValue: infrastructure.registryAddress ?? null },
        RegistryTokens,
        CommitWorkloadUseCase,
        PlaceBuildUseCase,
        AdminListWorkloadsUseCase,
        AdminGetWorkloadUseCase,
        ListWorkloadEventsUseCase,
        AdminWorkloadActionUseCase,
        SyncAgentAuthorizationUseCase,
        // Creates rank candidates on this replica's picture of the fleet.
        {
          provide: HostIndex,
          useValue: new HostIndex(infrastructure.settings.hostIndexRefreshMs ?? 0, {
            onReloadError: (error) => infrastructure.logger.warn({ err: error }, 'host index: the periodic full read failed; trying again in a period'),
          }),
        },
      ],
    };
  }
}
