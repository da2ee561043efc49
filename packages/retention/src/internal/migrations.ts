import * as SqlClient from "@effect/sql/SqlClient"
import * as Migrations from "@lawful/core/Migrations"
import * as Effect from "effect/Effect"

/** Every table of the package, migrated in `lawful_retention_migrations` by whichever SQL layer starts first. */
export const migrations: Record<string, Migrations.Migration> = {
  "0001_retention": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE lawful_retention_policies (
        tenant_id uuid NOT NULL,
        category text NOT NULL,
        period_ms bigint,
        set_at timestamptz NOT NULL,
        set_by text NOT NULL,
        PRIMARY KEY (tenant_id, category),
        CHECK (period_ms IS NULL OR period_ms >= 0)
      );
      CREATE TABLE lawful_retention_holds (
        tenant_id uuid NOT NULL,
        hold_id uuid NOT NULL,
        subject_id uuid,
        category text,
        reason text NOT NULL,
        placed_at timestamptz NOT NULL,
        placed_by text NOT NULL,
        released_at timestamptz,
        released_by text,
        PRIMARY KEY (tenant_id, hold_id)
      );
      CREATE INDEX lawful_retention_holds_active ON lawful_retention_holds (tenant_id, placed_at)
        WHERE released_at IS NULL;
      CREATE TABLE lawful_retention_sweeps (
        tenant_id uuid NOT NULL,
        category text NOT NULL,
        run_id uuid NOT NULL,
        cutoff timestamptz NOT NULL,
        started_at timestamptz NOT NULL,
        purged bigint NOT NULL DEFAULT 0,
        partitions integer NOT NULL DEFAULT 0,
        finished_at timestamptz,
        complete boolean,
        PRIMARY KEY (tenant_id, category, run_id)
      );
      CREATE INDEX lawful_retention_sweeps_latest ON lawful_retention_sweeps (tenant_id, category, started_at);
      CREATE INDEX lawful_retention_sweeps_unfinished ON lawful_retention_sweeps (tenant_id, category)
        WHERE finished_at IS NULL;
    `),
  // The holds in force of some tenants, for a read that no hold being placed may overtake: the
  // function waits for the exclusive lock `place` takes, then reads with a snapshot of its own (a
  // volatile function's statements each take one), taken once that hold has committed. The shared
  // lock stays until the caller's transaction ends, and until then `place` waits.
  "0002_holds_in_force": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE FUNCTION lawful_retention_holds_in_force(tenants uuid[]) RETURNS SETOF lawful_retention_holds
      LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock_shared(hashtext('lawful_retention_holds/' || current_schema()));
        RETURN QUERY SELECT * FROM lawful_retention_holds
          WHERE tenant_id = ANY(tenants) AND released_at IS NULL ORDER BY placed_at, hold_id;
      END $$;
    `),
  // The policies of some tenants, for a read that no policy change may overtake: the same shared lock
  // as the holds' (a batch reading both takes it once), which a change of policy takes exclusively
  // until it commits. The read waits for a change in progress and sees it; a change waits for the
  // caller's transaction, in which the read took the lock, to end.
  "0003_policies_in_force": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE FUNCTION lawful_retention_policies_in_force(tenants uuid[]) RETURNS SETOF lawful_retention_policies
      LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock_shared(hashtext('lawful_retention_holds/' || current_schema()));
        RETURN QUERY SELECT * FROM lawful_retention_policies WHERE tenant_id = ANY(tenants);
      END $$;
    `),
  // The sweep that owns the journal: the last to take the sweep lock. Each write of a sweep checks,
  // in its transaction, that it still owns it (`FOR SHARE`), and a sweep taking the lock over
  // changes the owner, which waits for those transactions: a sweep that lost its lock writes nothing
  // after the new one took over.
  "0004_sweep_lease": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE lawful_retention_sweep_lease (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        run_id uuid NOT NULL
      );
    `)
}

/** Runs the package's migrations with the client given, untransformed. */
export const migrate = (sql: SqlClient.SqlClient) =>
  Migrations.run("retention", migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))
