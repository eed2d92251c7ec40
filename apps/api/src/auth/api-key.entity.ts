import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { ApiKeyRole } from './principal';

/**
 * A stored API key. The secret itself is never stored: only `prefix` (to find the row) and
 * a salted scrypt hash. Operator keys have no tenant; every other role belongs to one.
 */
@Entity({ name: 'api_keys' })
export class ApiKey {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid', { name: 'tenant_id', nullable: true })
  tenantId!: string | null;

  @Column('text')
  role!: ApiKeyRole;

  @Column('text', { unique: true })
  prefix!: string;

  @Column('text', { name: 'secret_hash' })
  secretHash!: string;

  @Column('text')
  name!: string;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'last_used_at', nullable: true })
  lastUsedAt!: Date | null;

  @Column('timestamptz', { name: 'expires_at', nullable: true })
  expiresAt!: Date | null;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt!: Date | null;
}
