import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

/** One mutating call, whatever its outcome. Never holds request bodies, so never a secret. */
@Entity({ name: 'audit_entries' })
export class AuditEntry {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column('timestamptz')
  at!: Date;

  @Column('text', { name: 'principal_id', nullable: true })
  principalId!: string | null;

  @Column('text', { name: 'principal_kind', nullable: true })
  principalKind!: string | null;

  @Column('text', { nullable: true })
  role!: string | null;

  @Column('uuid', { name: 'tenant_id', nullable: true })
  tenantId!: string | null;

  @Column('text')
  action!: string;

  @Column('text', { nullable: true })
  target!: string | null;

  @Column('text')
  result!: string;

  @Column('integer')
  status!: number;

  @Column('text', { name: 'request_id' })
  requestId!: string;

  @Column('text', { name: 'source_address', nullable: true })
  sourceAddress!: string | null;
}
