import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { HostState } from '../placement/placement';

/**
 * A compute node as the scheduler sees it: inventory from heartbeats plus the allocation the
 * scheduler itself keeps. `allocated_*` change only in the transaction that writes or removes
 * a claim, under this row's lock, and every such change bumps `generation`.
 */
@Entity({ name: 'hosts' })
export class HostEntity {
  /** The node id (also its NATS subject token). */
  @PrimaryColumn('text')
  id!: string;

  @Column('text')
  state!: HostState;

  @Column('text', { array: true })
  drivers!: string[];

  @Column('jsonb')
  labels!: Record<string, string>;

  @Column('int', { name: 'capacity_cpu_millis' })
  capacityCpuMillis!: number;

  @Column('int', { name: 'capacity_memory_mib' })
  capacityMemoryMiB!: number;

  @Column('int', { name: 'capacity_pids' })
  capacityPids!: number;

  @Column('int', { name: 'allocated_cpu_millis' })
  allocatedCpuMillis!: number;

  @Column('int', { name: 'allocated_memory_mib' })
  allocatedMemoryMiB!: number;

  @Column('int', { name: 'allocated_pids' })
  allocatedPids!: number;

  /** Normalised image references the docker driver reported. */
  @Column('text', { array: true })
  images!: string[];

  @Column('uuid', { name: 'boot_id' })
  bootId!: string;

  @Column('timestamptz', { name: 'last_heartbeat_at' })
  lastHeartbeatAt!: Date;

  @Column('int')
  generation!: number;

  /** When an operator last took the host out of maintenance: the missed-heartbeat clock starts no earlier. */
  @Column('timestamptz', { name: 'left_maintenance_at', nullable: true })
  leftMaintenanceAt!: Date | null;

  /** While lost: the state to return to when heartbeats resume (an operator's cordon or drain survives). */
  @Column('text', { name: 'state_before_lost', nullable: true })
  stateBeforeLost!: HostState | null;

  /** Workloads on the host when its drain began; null when not draining. */
  @Column('int', { name: 'drain_total', nullable: true })
  drainTotal!: number | null;

  /** Workloads the last drain pass could not move, with why. */
  @Column('jsonb', { name: 'drain_blocked', nullable: true })
  drainBlocked!: Array<{ workloadId: string; reason: string }> | null;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt!: Date;
}
