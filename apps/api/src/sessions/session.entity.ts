import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A login: tokens are stored only as SHA-256 digests (they are 32 random bytes, so no slow hash is needed). */
@Entity({ name: 'sessions' })
export class Session {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('uuid', { name: 'user_id' })
  userId!: string;

  @Column('text', { name: 'access_digest', unique: true })
  accessDigest!: string;

  @Column('text', { name: 'refresh_digest', unique: true })
  refreshDigest!: string;

  @Column('timestamptz', { name: 'access_expires_at' })
  accessExpiresAt!: Date;

  @Column('timestamptz', { name: 'refresh_expires_at' })
  refreshExpiresAt!: Date;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt!: Date | null;
}
