import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ApiKeyRole } from '../auth/principal';

/** A person who logs in with a password: an operator (no tenant) or one role in one tenant. */
@Entity({ name: 'users' })
export class User {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('text', { unique: true })
  login!: string;

  @Column('uuid', { name: 'tenant_id', nullable: true })
  tenantId!: string | null;

  @Column('text')
  role!: ApiKeyRole;

  @Column('text', { name: 'password_hash' })
  passwordHash!: string;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;
}
