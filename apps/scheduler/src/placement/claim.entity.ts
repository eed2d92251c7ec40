import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Resources a workload holds on a host. Written and removed only together with the host's
 * `allocated_*` columns, in one transaction under the host row's lock.
 */
@Entity({ name: 'claims' })
export class ClaimEntity {
  @PrimaryColumn('uuid', { name: 'workload_id' })
  workloadId!: string;

  @Column('text', { name: 'host_id' })
  hostId!: string;

  @Column('int', { name: 'cpu_millis' })
  cpuMillis!: number;

  @Column('int', { name: 'memory_mib' })
  memoryMiB!: number;

  @Column('int')
  pids!: number;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;
}
