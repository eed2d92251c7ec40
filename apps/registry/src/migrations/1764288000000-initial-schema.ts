import { outboxTableSql } from '@gureum/messaging';
import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = 'registry';

/**
 * Repositories, blobs and the links that say which repository may serve which blob,
 * manifests (with their references, for GC and referrers), tags, upload sessions and
 * per-tenant storage usage.
 */
export class InitialSchema1764288000000 implements MigrationInterface {
  name = 'InitialSchema1764288000000';

  async up(runner: QueryRunner): Promise<void> {
    const statements = [
      `CREATE TABLE "${S}"."repositories" (
        "id" uuid PRIMARY KEY,
        "name" text NOT NULL UNIQUE,
        "namespace" text NOT NULL,
        "public" boolean NOT NULL DEFAULT false,
        "created_at" timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX "repositories_namespace" ON "${S}"."repositories" ("namespace")`,
      `CREATE TABLE "${S}"."blobs" (
        "digest" text PRIMARY KEY,
        "size" bigint NOT NULL CHECK ("size" >= 0),
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "last_linked_at" timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE "${S}"."repository_blobs" (
        "repository_id" uuid NOT NULL REFERENCES "${S}"."repositories" ("id") ON DELETE CASCADE,
        "digest" text NOT NULL REFERENCES "${S}"."blobs" ("digest"),
        "namespace" text NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY ("repository_id", "digest")
      )`,
      `CREATE INDEX "repository_blobs_namespace_digest" ON "${S}"."repository_blobs" ("namespace", "digest")`,
      `CREATE INDEX "repository_blobs_digest" ON "${S}"."repository_blobs" ("digest")`,
      `CREATE TABLE "${S}"."manifests" (
        "repository_id" uuid NOT NULL REFERENCES "${S}"."repositories" ("id") ON DELETE CASCADE,
        "digest" text NOT NULL,
        "media_type" text NOT NULL,
        "size" bigint NOT NULL,
        "subject_digest" text,
        "artifact_type" text,
        "annotations" jsonb,
        "blob_refs" text[] NOT NULL DEFAULT '{}',
        "manifest_refs" text[] NOT NULL DEFAULT '{}',
        "created_at" timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY ("repository_id", "digest"),
        FOREIGN KEY ("repository_id", "digest") REFERENCES "${S}"."repository_blobs" ("repository_id", "digest")
      )`,
      `CREATE INDEX "manifests_subject" ON "${S}"."manifests" ("repository_id", "subject_digest") WHERE "subject_digest" IS NOT NULL`,
      `CREATE TABLE "${S}"."tags" (
        "repository_id" uuid NOT NULL REFERENCES "${S}"."repositories" ("id") ON DELETE CASCADE,
        "name" text NOT NULL,
        "manifest_digest" text NOT NULL,
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY ("repository_id", "name"),
        FOREIGN KEY ("repository_id", "manifest_digest") REFERENCES "${S}"."manifests" ("repository_id", "digest") ON DELETE CASCADE
      )`,
      `CREATE TABLE "${S}"."uploads" (
        "id" uuid PRIMARY KEY,
        "repository_name" text NOT NULL,
        "offset" bigint NOT NULL DEFAULT 0,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE "${S}"."tenant_storage" (
        "namespace" text PRIMARY KEY,
        "used_bytes" bigint NOT NULL DEFAULT 0 CHECK ("used_bytes" >= 0),
        "quota_bytes" bigint
      )`,
      ...outboxTableSql(S),
    ];
    for (const statement of statements) await runner.query(statement);
  }

  async down(runner: QueryRunner): Promise<void> {
    for (const table of ['outbox', 'tenant_storage', 'uploads', 'tags', 'manifests', 'repository_blobs', 'blobs', 'repositories']) {
      await runner.query(`DROP TABLE "${S}"."${table}"`);
    }
  }
}
