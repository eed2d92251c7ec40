import type { DesiredState, PlacementHints, VmOptions, WorkloadKind, WorkloadState } from '@gureum/contracts';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A tenant's workload: its spec, where it runs, and both desired and observed state. */
@Entity({ name: 'workloads' })
export class WorkloadEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid', { name: 'tenant_id' })
  tenantId!: string;

  @Column('text')
  name!: string;

  @Column('text')
  kind!: WorkloadKind;

  /** Only for `kind: 'vm'` (disk size, kernel arguments); null for containers. */
  @Column('jsonb', { nullable: true })
  vm!: VmOptions | null;

  @Column('text')
  image!: string;

  @Column('jsonb', { nullable: true })
  command!: string[] | null;

  @Column('jsonb', { nullable: true })
  env!: Record<string, string> | null;

  @Column('int', { name: 'cpu_millis' })
  cpuMillis!: number;

  @Column('int', { name: 'memory_mib' })
  memoryMiB!: number;

  @Column('int')
  pids!: number;

  @Column('text')
  state!: WorkloadState;

  @Column('text', { name: 'desired_state' })
  desiredState!: DesiredState;

  @Column('text', { nullable: true })
  reason!: string | null;

  @Column('int', { name: 'exit_code', nullable: true })
  exitCode!: number | null;

  @Column('text', { name: 'host_id', nullable: true })
  hostId!: string | null;

  /** Bumped on every user start, so the agent can tell a new run from an old exit. */
  @Column('int')
  generation!: number;

  /** Placement hints as the tenant gave them (constraints, groups, policy, dedicated). */
  @Column('jsonb', { nullable: true })
  placement!: PlacementHints | null;

  @Column('text', { name: 'affinity_group', nullable: true })
  affinityGroup!: string | null;

  @Column('text', { name: 'anti_affinity_group', nullable: true })
  antiAffinityGroup!: string | null;

  /** 0..1000; a higher-priority workload may preempt lower-priority preemptible ones. */
  @Column('int')
  priority!: number;

  @Column('boolean')
  preemptible!: boolean;

  /** Containers only: the image mounted read-only, a tmpfs `/tmp` (see the agent's docker mapping). */
  @Column('boolean', { name: 'read_only_root_filesystem', default: false })
  readOnlyRootFilesystem!: boolean;

  @Column('text', { name: 'idempotency_key', nullable: true })
  idempotencyKey!: string | null;

  /**
   * Millisecond precision on purpose: it is half of the keyset cursor, and cursors carry a JS
   * Date. With PostgreSQL's default microseconds a page boundary would repeat rows.
   */
  @Column({ type: 'timestamptz', name: 'created_at', precision: 3 })
  createdAt!: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt!: Date;

  @Column('timestamptz', { name: 'deleted_at', nullable: true })
  deletedAt!: Date | null;
}
