import { outboxTableSql } from '@gureum/messaging';
import type { MigrationInterface, QueryRunner } from 'typeorm';

const S = '"billing"';

/**
 * Plans and their charges, tenant plan assignments, invoices and their lines (finalised ones
 * frozen by triggers), credit notes and the credit ledger (append-only), budgets and their
 * alerts, and the outbox. Every amount is numeric(20,2); quantities and prices numeric(20,6).
 */
export class InitialSchema1768313658304 implements MigrationInterface {
  name = 'InitialSchema1768313658304';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `CREATE TABLE ${S}."plans" (
        "id" uuid PRIMARY KEY,
        "name" text NOT NULL,
        "currency" char(3) NOT NULL CHECK ("currency" ~ '^[A-Z]{3}$'),
        "created_at" timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ${S}."plan_charges" (
        "plan_id" uuid NOT NULL REFERENCES ${S}."plans" ("id"),
        "meter" text NOT NULL,
        "position" int NOT NULL,
        "aggregate" text NOT NULL CHECK ("aggregate" IN ('sum', 'max')),
        "free_allowance" numeric(20,6) NOT NULL CHECK ("free_allowance" >= 0),
        "model" text NOT NULL CHECK ("model" IN ('per_unit', 'graduated', 'volume', 'package')),
        "unit_price" numeric(20,6) CHECK ("unit_price" >= 0),
        "package_size" numeric(20,6) CHECK ("package_size" > 0),
        "package_price" numeric(20,6) CHECK ("package_price" >= 0),
        PRIMARY KEY ("plan_id", "meter"),
        CHECK (("model" = 'per_unit') = ("unit_price" IS NOT NULL)),
        CHECK (("model" = 'package') = ("package_size" IS NOT NULL AND "package_price" IS NOT NULL))
      )`,
      `CREATE TABLE ${S}."plan_charge_tiers" (
        "plan_id" uuid NOT NULL,
        "meter" text NOT NULL,
        "position" int NOT NULL,
        "up_to" numeric(20,6) CHECK ("up_to" > 0),
        "unit_price" numeric(20,6) NOT NULL CHECK ("unit_price" >= 0),
        "flat_fee" numeric(20,6) NOT NULL CHECK ("flat_fee" >= 0),
        PRIMARY KEY ("plan_id", "meter", "position"),
        FOREIGN KEY ("plan_id", "meter") REFERENCES ${S}."plan_charges" ("plan_id", "meter")
      )`,
      `CREATE TABLE ${S}."tenant_plans" (
        "tenant_id" uuid NOT NULL,
        "effective_from" timestamptz NOT NULL,
        "plan_id" uuid NOT NULL REFERENCES ${S}."plans" ("id"),
        "assigned_at" timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY ("tenant_id", "effective_from")
      )`,
      `CREATE TABLE ${S}."invoices" (
        "id" uuid PRIMARY KEY,
        "tenant_id" uuid NOT NULL,
        "plan_id" uuid NOT NULL REFERENCES ${S}."plans" ("id"),
        "currency" char(3) NOT NULL,
        "period_start" timestamptz NOT NULL,
        "period_end" timestamptz NOT NULL CHECK ("period_end" > "period_start"),
        "usage_from" timestamptz NOT NULL,
        "status" text NOT NULL CHECK ("status" IN ('draft', 'finalised')),
        "total" numeric(20,2) NOT NULL DEFAULT 0 CHECK ("total" >= 0),
        "credits_applied" numeric(20,2) NOT NULL DEFAULT 0 CHECK ("credits_applied" >= 0 AND "credits_applied" <= "total"),
        "amount_due" numeric(20,2) NOT NULL DEFAULT 0 CHECK ("amount_due" = "total" - "credits_applied"),
        "computed_at" timestamptz NOT NULL DEFAULT now(),
        "finalised_at" timestamptz,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        -- One invoice per tenant and period, whatever happens to an invoice run.
        UNIQUE ("tenant_id", "period_start"),
        CHECK (("status" = 'finalised') = ("finalised_at" IS NOT NULL))
      )`,
      `CREATE INDEX "invoices_tenant_created" ON ${S}."invoices" ("tenant_id", "created_at" DESC, "id" DESC)`,
      `CREATE INDEX "invoices_open" ON ${S}."invoices" ("period_end") WHERE "status" = 'draft'`,
      `CREATE TABLE ${S}."invoice_lines" (
        "invoice_id" uuid NOT NULL REFERENCES ${S}."invoices" ("id"),
        "meter" text NOT NULL,
        "position" int NOT NULL,
        "unit" text NOT NULL,
        "aggregate" text NOT NULL,
        "quantity" numeric(20,6) NOT NULL,
        "free_quantity" numeric(20,6) NOT NULL,
        "billable_quantity" numeric(20,6) NOT NULL,
        "pricing" jsonb NOT NULL,
        "amount" numeric(20,2) NOT NULL CHECK ("amount" >= 0),
        -- Where the quantity came from: metering's hourly rollups of this meter in [usage_from, usage_to).
        "usage_from" timestamptz NOT NULL,
        "usage_to" timestamptz NOT NULL,
        "rollup_hours" int NOT NULL,
        "rollups" jsonb NOT NULL,
        PRIMARY KEY ("invoice_id", "meter")
      )`,
      `CREATE TABLE ${S}."credit_notes" (
        "id" uuid PRIMARY KEY,
        "invoice_id" uuid NOT NULL REFERENCES ${S}."invoices" ("id"),
        "tenant_id" uuid NOT NULL,
        "amount" numeric(20,2) NOT NULL CHECK ("amount" > 0),
        "currency" char(3) NOT NULL,
        "reason" text NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ${S}."credit_ledger" (
        "id" uuid PRIMARY KEY,
        "tenant_id" uuid NOT NULL,
        "currency" char(3) NOT NULL,
        -- Positive adds to the prepaid balance (grant, credit note); negative spends it (an invoice).
        "amount" numeric(20,2) NOT NULL CHECK ("amount" <> 0),
        "kind" text NOT NULL CHECK ("kind" IN ('grant', 'invoice', 'credit_note')),
        "invoice_id" uuid REFERENCES ${S}."invoices" ("id"),
        "credit_note_id" uuid REFERENCES ${S}."credit_notes" ("id"),
        "created_at" timestamptz NOT NULL DEFAULT now(),
        CHECK (("kind" = 'invoice') = ("invoice_id" IS NOT NULL AND "amount" < 0)),
        CHECK (("kind" = 'credit_note') = ("credit_note_id" IS NOT NULL))
      )`,
      `CREATE UNIQUE INDEX "credit_ledger_one_per_invoice" ON ${S}."credit_ledger" ("invoice_id") WHERE "kind" = 'invoice'`,
      `CREATE INDEX "credit_ledger_tenant" ON ${S}."credit_ledger" ("tenant_id", "currency")`,
      `CREATE TABLE ${S}."budgets" (
        "tenant_id" uuid PRIMARY KEY,
        "amount" numeric(20,2) NOT NULL CHECK ("amount" >= 0),
        "thresholds_percent" int[] NOT NULL,
        "hard_limit" boolean NOT NULL,
        "updated_at" timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE ${S}."budget_alerts" (
        "tenant_id" uuid NOT NULL,
        "period_start" timestamptz NOT NULL,
        "threshold_percent" int NOT NULL,
        "budget" numeric(20,2) NOT NULL,
        "cost_at_alert" numeric(20,2) NOT NULL,
        "currency" char(3) NOT NULL,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        -- Once per tenant, period and threshold.
        PRIMARY KEY ("tenant_id", "period_start", "threshold_percent")
      )`,
      // A finalised invoice never changes, whoever writes to the database.
      `CREATE FUNCTION ${S}."refuse_finalised_invoice_change"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD."status" = 'finalised' THEN
          RAISE EXCEPTION 'invoice % is finalised and cannot change', OLD."id" USING ERRCODE = 'GB001';
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
      END $$`,
      `CREATE TRIGGER "invoices_frozen_when_finalised" BEFORE UPDATE OR DELETE ON ${S}."invoices"
        FOR EACH ROW EXECUTE FUNCTION ${S}."refuse_finalised_invoice_change"()`,
      `CREATE FUNCTION ${S}."refuse_finalised_line_change"() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        target uuid := CASE WHEN TG_OP = 'INSERT' THEN NEW."invoice_id" ELSE OLD."invoice_id" END;
      BEGIN
        IF EXISTS (SELECT 1 FROM ${S}."invoices" WHERE "id" = target AND "status" = 'finalised') THEN
          RAISE EXCEPTION 'lines of finalised invoice % cannot change', target USING ERRCODE = 'GB001';
        END IF;
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
      END $$`,
      `CREATE TRIGGER "invoice_lines_frozen_when_finalised" BEFORE INSERT OR UPDATE OR DELETE ON ${S}."invoice_lines"
        FOR EACH ROW EXECUTE FUNCTION ${S}."refuse_finalised_line_change"()`,
      `CREATE FUNCTION ${S}."refuse_change"() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'GB001';
      END $$`,
      `CREATE TRIGGER "credit_notes_append_only" BEFORE UPDATE OR DELETE ON ${S}."credit_notes" FOR EACH ROW EXECUTE FUNCTION ${S}."refuse_change"()`,
      `CREATE TRIGGER "credit_ledger_append_only" BEFORE UPDATE OR DELETE ON ${S}."credit_ledger" FOR EACH ROW EXECUTE FUNCTION ${S}."refuse_change"()`,
      ...outboxTableSql('billing'),
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['outbox', 'budget_alerts', 'budgets', 'credit_ledger', 'credit_notes', 'invoice_lines', 'invoices', 'tenant_plans', 'plan_charge_tiers', 'plan_charges', 'plans']) {
      await queryRunner.query(`DROP TABLE ${S}."${table}"`);
    }
    for (const fn of ['refuse_change', 'refuse_finalised_line_change', 'refuse_finalised_invoice_change']) await queryRunner.query(`DROP FUNCTION ${S}."${fn}"()`);
  }
}
