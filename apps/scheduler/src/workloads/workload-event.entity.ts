import type { WorkloadState } from '@gureum/contracts';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** One row per state transition: the workload's history, written with the transition. */
@Entity({ name: 'workload_events' })
export class WorkloadEventEntity {
  /** Identity column: orders transitions that share a transaction timestamp. */
  @PrimaryColumn('bigint')
  id!: string;

  /** Also the outbox message id, so the published fact and this row name each other. */
  @Column('uuid', { name: 'event_id' })
  eventId!: string;

  @Column('uuid', { name: 'workload_id' })
  workloadId!: string;

  @Column('text', { name: 'from_state', nullable: true })
  fromState!: WorkloadState | null;

  @Column('text', { name: 'to_state' })
  toState!: WorkloadState;

  @Column('text', { nullable: true })
  reason!: string | null;

  @Column('timestamptz')
  at!: Date;
}
