import { Column, Entity, PrimaryColumn } from 'typeorm';

export const TENANT_STATUSES = ['active', 'suspended'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

/** A tenant: the unit of isolation, quota and billing. Its id is what other services see. */
@Entity({ name: 'tenants' })
export class Tenant {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('text', { unique: true })
  name!: string;

  @Column('text')
  status!: TenantStatus;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;
}
