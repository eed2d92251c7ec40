import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ApiKeyRole } from '../auth/principal';

export type LoginScope = 'global' | 'tenant';

/** A person who logs in with a password: an operator (no tenant) or one role in one tenant. */
@Entity({ name: 'users' })
export class User {
  @PrimaryColumn('uuid')
  id!: string;

  /** Unique among `global` logins, or within the tenant for `tenant` ones (see loginScope). */
  @Column('text')
  login!: string;

  /**
   * `global`: operators and owners created with their tenant by an operator; log in as
   * `<login>`. `tenant`: invited by an owner; log in as `<tenant name>/<login>`.
   */
  @Column('text', { name: 'login_scope' })
  loginScope!: LoginScope;

  @Column('uuid', { name: 'tenant_id', nullable: true })
  tenantId!: string | null;

  @Column('text')
  role!: ApiKeyRole;

  @Column('text', { name: 'password_hash' })
  passwordHash!: string;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;
}
