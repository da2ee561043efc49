/**
 * The package's tables, migrated together in `lawful_consent_proof_migrations`.
 *
 * Every table leads its primary key and indexes with `tenant_id`.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Migrations from "@lawful/core/Migrations"
import * as Effect from "effect/Effect"

const migrations: Record<string, Migrations.Migration> = {
  "0001_consent": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE lawful_consent_lists (
        tenant_id uuid NOT NULL,
        list_id text NOT NULL,
        name text NOT NULL,
        purpose text NOT NULL,
        double_opt_in boolean NOT NULL,
        PRIMARY KEY (tenant_id, list_id)
      )`,
      // The next event sequence number of each tenant: its row lock orders a tenant's inserts.
      sql`CREATE TABLE lawful_consent_tenants (
        tenant_id uuid PRIMARY KEY,
        next_seq bigint NOT NULL
      )`,
      // Append-only: rows are inserted and, on erasure or retention, deleted; never updated.
      sql`CREATE TABLE lawful_consent_events (
        tenant_id uuid NOT NULL,
        seq bigint NOT NULL,
        event_id uuid NOT NULL,
        subject_id uuid NOT NULL,
        kind text NOT NULL,
        time timestamptz NOT NULL,
        body bytea NOT NULL,
        audit_index bigint NOT NULL,
        ip_sealed bytea,
        user_agent_sealed bytea,
        PRIMARY KEY (tenant_id, seq),
        UNIQUE (tenant_id, event_id)
      )`,
      sql`CREATE INDEX lawful_consent_events_subject ON lawful_consent_events (tenant_id, subject_id, seq)`,
      // The projection: the current state of each subject on each list, maintained in the
      // transaction that inserts the events, and rebuildable from them.
      sql`CREATE TABLE lawful_consent_state (
        tenant_id uuid NOT NULL,
        subject_id uuid NOT NULL,
        list_id text NOT NULL,
        status text NOT NULL,
        since timestamptz NOT NULL,
        event_id uuid NOT NULL,
        PRIMARY KEY (tenant_id, subject_id, list_id)
      )`,
      sql`CREATE INDEX lawful_consent_state_recipients ON lawful_consent_state (tenant_id, list_id, subject_id)
        WHERE status = 'granted'`,
      sql`CREATE INDEX lawful_consent_state_withdrawn ON lawful_consent_state (tenant_id, since)
        WHERE status = 'withdrawn'`,
      sql`CREATE TABLE lawful_consent_imports (
        tenant_id uuid NOT NULL,
        import_id uuid NOT NULL,
        attestation jsonb NOT NULL,
        attestation_sha256 text NOT NULL,
        started_at timestamptz NOT NULL,
        report jsonb,
        PRIMARY KEY (tenant_id, import_id)
      )`
    ], { discard: true }))
}

/** Runs the package's migrations with the given client. @internal */
export const migrate = (sql: SqlClient.SqlClient): Effect.Effect<void, Migrations.MigrationFailed> =>
  Migrations.run("consent-proof", migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))
