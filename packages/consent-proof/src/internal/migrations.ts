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
    ], { discard: true })),
  // An append as one call: the tenant's counter row is locked (created if need be) by a first
  // statement, so the second statement's snapshot, taken after the lock, holds every earlier
  // writer's state changes (another process's included). One round trip in autocommit instead
  // of four (BEGIN, lock, append, COMMIT), and PL/pgSQL keeps the plans for the session instead
  // of planning the large statement on every call.
  "0002_append_function": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE FUNCTION lawful_consent_append(p_tenant uuid, p_size bigint, p_events jsonb, p_outcomes jsonb)
      RETURNS void
      LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO lawful_consent_tenants AS c (tenant_id, next_seq) VALUES (p_tenant, 0)
        ON CONFLICT (tenant_id) DO UPDATE SET next_seq = c.next_seq;

        WITH counter AS (
          UPDATE lawful_consent_tenants SET next_seq = next_seq + p_size
          WHERE tenant_id = p_tenant
          RETURNING next_seq - p_size AS base
        ),
        inserted AS (
          INSERT INTO lawful_consent_events
            (tenant_id, seq, event_id, subject_id, kind, time, body, audit_index, ip_sealed, user_agent_sealed)
          SELECT p_tenant, counter.base + x.o, x.e, x.s, x.k, x.t, convert_to(x.b, 'UTF8'), x.a,
            decode(x.ip, 'hex'), decode(x.ua, 'hex')
          FROM counter, jsonb_to_recordset(p_events)
            AS x(o bigint, e uuid, s uuid, k text, t timestamptz, b text, a bigint, ip text, ua text)
        ),
        m AS (
          SELECT m.* FROM counter, jsonb_to_recordset(p_outcomes) AS m(
            s uuid, l text,
            n text, ns timestamptz, ne uuid, p text, ps timestamptz, pe uuid,
            g text, gs timestamptz, ge uuid, w text, ws timestamptz, we uuid)
        ),
        updated AS (
          UPDATE lawful_consent_state st
          SET status = CASE st.status WHEN 'pending' THEN m.p WHEN 'granted' THEN m.g ELSE m.w END,
            since = CASE st.status WHEN 'pending' THEN m.ps WHEN 'granted' THEN m.gs ELSE m.ws END,
            event_id = CASE st.status WHEN 'pending' THEN m.pe WHEN 'granted' THEN m.ge ELSE m.we END
          FROM m
          WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
            AND (CASE st.status WHEN 'pending' THEN m.p WHEN 'granted' THEN m.g ELSE m.w END) IS NOT NULL
        )
        INSERT INTO lawful_consent_state (tenant_id, subject_id, list_id, status, since, event_id)
        SELECT p_tenant, m.s, m.l, m.n, m.ns, m.ne FROM m
        WHERE m.n IS NOT NULL AND NOT EXISTS (
          SELECT 1 FROM lawful_consent_state st
          WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
        );
      END
      $$
    `),
  // The projection's rows, looked up by key, one subject at a time. As joins, the update and
  // the insert were planned for the tenant the statistics describe: a tenant created since
  // the last ANALYZE (or a table never analysed) is estimated at a handful of rows, and every
  // state row of the tenant was read on each append, a cost that grew with the tenant. Each
  // lookup is now a subquery kept per row (`OFFSET 0`), which can only be a primary-key probe;
  // the update reaches the rows found by their address. The tenant's counter row, locked
  // first, keeps every other writer of the projection out (they all lock it), so an address
  // read by the statement stays the row's until it commits.
  "0003_append_per_key_lookups": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE OR REPLACE FUNCTION lawful_consent_append(p_tenant uuid, p_size bigint, p_events jsonb, p_outcomes jsonb)
      RETURNS void
      LANGUAGE plpgsql
      SET plan_cache_mode = force_generic_plan
      SET enable_hashjoin = off
      SET enable_mergejoin = off
      AS $$
      BEGIN
        INSERT INTO lawful_consent_tenants AS c (tenant_id, next_seq) VALUES (p_tenant, 0)
        ON CONFLICT (tenant_id) DO UPDATE SET next_seq = c.next_seq;

        WITH counter AS (
          UPDATE lawful_consent_tenants SET next_seq = next_seq + p_size
          WHERE tenant_id = p_tenant
          RETURNING next_seq - p_size AS base
        ),
        inserted AS (
          INSERT INTO lawful_consent_events
            (tenant_id, seq, event_id, subject_id, kind, time, body, audit_index, ip_sealed, user_agent_sealed)
          SELECT p_tenant, counter.base + x.o, x.e, x.s, x.k, x.t, convert_to(x.b, 'UTF8'), x.a,
            decode(x.ip, 'hex'), decode(x.ua, 'hex')
          FROM counter, jsonb_to_recordset(p_events)
            AS x(o bigint, e uuid, s uuid, k text, t timestamptz, b text, a bigint, ip text, ua text)
        ),
        m AS (
          SELECT m.* FROM counter, jsonb_to_recordset(p_outcomes) AS m(
            s uuid, l text,
            n text, ns timestamptz, ne uuid, p text, ps timestamptz, pe uuid,
            g text, gs timestamptz, ge uuid, w text, ws timestamptz, we uuid)
        ),
        found AS (
          SELECT m.*, x.row_id FROM m CROSS JOIN LATERAL (
            SELECT st.ctid AS row_id FROM lawful_consent_state st
            WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
            OFFSET 0
          ) x
        ),
        updated AS (
          UPDATE lawful_consent_state st
          SET status = CASE st.status WHEN 'pending' THEN f.p WHEN 'granted' THEN f.g ELSE f.w END,
            since = CASE st.status WHEN 'pending' THEN f.ps WHEN 'granted' THEN f.gs ELSE f.ws END,
            event_id = CASE st.status WHEN 'pending' THEN f.pe WHEN 'granted' THEN f.ge ELSE f.we END
          FROM found f
          WHERE st.ctid = f.row_id
            AND (CASE st.status WHEN 'pending' THEN f.p WHEN 'granted' THEN f.g ELSE f.w END) IS NOT NULL
        )
        INSERT INTO lawful_consent_state (tenant_id, subject_id, list_id, status, since, event_id)
        SELECT p_tenant, m.s, m.l, m.n, m.ns, m.ne FROM m
        WHERE m.n IS NOT NULL AND NOT EXISTS (
          SELECT 1 FROM lawful_consent_state st
          WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
          OFFSET 0
        );
      END
      $$
    `),
  // The projection is paged in (subject, list) order, lists compared byte by byte as the memory
  // store compares them. Under the database's collation the primary key was in another order,
  // so each page sorted every row of the tenant after its cursor; with the column in "C" the
  // primary key gives the order and a page reads its own rows only.
  "0004_state_list_collation": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`ALTER TABLE lawful_consent_state ALTER COLUMN list_id TYPE text COLLATE "C"`),
  // A purge of withdrawn-consent proofs reads withdrawn states oldest first, a page at a time
  // after a cursor of (since, subject, list): the index now holds that whole order.
  "0005_withdrawn_in_order": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE INDEX lawful_consent_state_withdrawn_order ON lawful_consent_state (tenant_id, since, subject_id, list_id)
        WHERE status = 'withdrawn';
      DROP INDEX lawful_consent_state_withdrawn;
    `),
  // Imports with an idempotency key. An imported event now carries its import id in a column,
  // unique per (tenant, import, subject): an import records a subject once, however many times
  // it is run, and a resumed import finds the subjects it recorded by key. Events stored before
  // keep the column empty (their import id stays in their bytes): only keyed imports read it,
  // and none was made before this migration. The import record keeps the key's blind index
  // (never the key), the hash of the options, and the claim of the attempt that runs it.
  "0006_idempotent_imports": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`ALTER TABLE lawful_consent_events ADD COLUMN import_id uuid`,
      sql`CREATE UNIQUE INDEX lawful_consent_events_import_subject
        ON lawful_consent_events (tenant_id, import_id, subject_id) WHERE import_id IS NOT NULL`,
      sql`ALTER TABLE lawful_consent_imports
        ADD COLUMN idempotency_key_hash text,
        ADD COLUMN options_sha256 text,
        ADD COLUMN claim_token uuid,
        ADD COLUMN claimed_until timestamptz`,
      sql`CREATE UNIQUE INDEX lawful_consent_imports_key
        ON lawful_consent_imports (tenant_id, idempotency_key_hash) WHERE idempotency_key_hash IS NOT NULL`,
      // As 0003, with the import id (`i`, null for other events).
      sql`
        CREATE OR REPLACE FUNCTION lawful_consent_append(p_tenant uuid, p_size bigint, p_events jsonb, p_outcomes jsonb)
        RETURNS void
        LANGUAGE plpgsql
        SET plan_cache_mode = force_generic_plan
        SET enable_hashjoin = off
        SET enable_mergejoin = off
        AS $$
        BEGIN
          INSERT INTO lawful_consent_tenants AS c (tenant_id, next_seq) VALUES (p_tenant, 0)
          ON CONFLICT (tenant_id) DO UPDATE SET next_seq = c.next_seq;

          WITH counter AS (
            UPDATE lawful_consent_tenants SET next_seq = next_seq + p_size
            WHERE tenant_id = p_tenant
            RETURNING next_seq - p_size AS base
          ),
          inserted AS (
            INSERT INTO lawful_consent_events
              (tenant_id, seq, event_id, subject_id, kind, time, body, audit_index, ip_sealed, user_agent_sealed, import_id)
            SELECT p_tenant, counter.base + x.o, x.e, x.s, x.k, x.t, convert_to(x.b, 'UTF8'), x.a,
              decode(x.ip, 'hex'), decode(x.ua, 'hex'), x.i
            FROM counter, jsonb_to_recordset(p_events)
              AS x(o bigint, e uuid, s uuid, k text, t timestamptz, b text, a bigint, ip text, ua text, i uuid)
          ),
          m AS (
            SELECT m.* FROM counter, jsonb_to_recordset(p_outcomes) AS m(
              s uuid, l text,
              n text, ns timestamptz, ne uuid, p text, ps timestamptz, pe uuid,
              g text, gs timestamptz, ge uuid, w text, ws timestamptz, we uuid)
          ),
          found AS (
            SELECT m.*, x.row_id FROM m CROSS JOIN LATERAL (
              SELECT st.ctid AS row_id FROM lawful_consent_state st
              WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
              OFFSET 0
            ) x
          ),
          updated AS (
            UPDATE lawful_consent_state st
            SET status = CASE st.status WHEN 'pending' THEN f.p WHEN 'granted' THEN f.g ELSE f.w END,
              since = CASE st.status WHEN 'pending' THEN f.ps WHEN 'granted' THEN f.gs ELSE f.ws END,
              event_id = CASE st.status WHEN 'pending' THEN f.pe WHEN 'granted' THEN f.ge ELSE f.we END
            FROM found f
            WHERE st.ctid = f.row_id
              AND (CASE st.status WHEN 'pending' THEN f.p WHEN 'granted' THEN f.g ELSE f.w END) IS NOT NULL
          )
          INSERT INTO lawful_consent_state (tenant_id, subject_id, list_id, status, since, event_id)
          SELECT p_tenant, m.s, m.l, m.n, m.ns, m.ne FROM m
          WHERE m.n IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM lawful_consent_state st
            WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
            OFFSET 0
          );
        END
        $$
      `
    ], { discard: true })),
  // Confirmations checked at write time. Two confirmations of one pending grant at once both read
  // it pending before either wrote; stored both, the second confirmed nothing. The function now
  // takes the checks of a batch's confirmations (`p_checks`, see `confirmationChecks` in
  // ConsentStore), evaluates them once the tenant's counter row is locked (every earlier writer
  // of the projection has committed, and no other writes until this one commits), and when one
  // fails answers the refused confirmations' event ids and writes nothing; otherwise it writes
  // as 0006 did and answers null. Grants and withdrawals pass no checks and pay nothing for them.
  // The function answers a value now, which `CREATE OR REPLACE` cannot change, and an overload
  // with a fifth argument would make four-argument calls ambiguous: it is dropped and made again,
  // in this migration's transaction. A four-argument call (a process not yet upgraded) still
  // works, unchecked.
  "0007_append_checks_confirmations": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`DROP FUNCTION lawful_consent_append(uuid, bigint, jsonb, jsonb)`,
      sql`
        CREATE FUNCTION lawful_consent_append(
          p_tenant uuid, p_size bigint, p_events jsonb, p_outcomes jsonb, p_checks jsonb DEFAULT NULL
        )
        RETURNS jsonb
        LANGUAGE plpgsql
        SET plan_cache_mode = force_generic_plan
        SET enable_hashjoin = off
        SET enable_mergejoin = off
        AS $$
        DECLARE
          v_refused jsonb;
        BEGIN
          INSERT INTO lawful_consent_tenants AS c (tenant_id, next_seq) VALUES (p_tenant, 0)
          ON CONFLICT (tenant_id) DO UPDATE SET next_seq = c.next_seq;

          -- A check passes when the (subject, list) starts in a status of "ok" ('none': no
          -- state), or pending by one of the grants "x" names. Each state is read by its key.
          IF p_checks IS NOT NULL THEN
            SELECT jsonb_agg(DISTINCT c.e) INTO v_refused
            FROM jsonb_to_recordset(p_checks) AS c(e uuid, s uuid, l text, ok text[], x uuid[])
            LEFT JOIN LATERAL (
              SELECT st.status, st.event_id FROM lawful_consent_state st
              WHERE st.tenant_id = p_tenant AND st.subject_id = c.s AND st.list_id = c.l
              OFFSET 0
            ) st ON true
            WHERE NOT (
              coalesce(coalesce(st.status, 'none') = ANY (c.ok), false)
              OR coalesce(st.status = 'pending' AND st.event_id = ANY (c.x), false)
            );
            IF v_refused IS NOT NULL THEN
              RETURN v_refused;
            END IF;
          END IF;

          WITH counter AS (
            UPDATE lawful_consent_tenants SET next_seq = next_seq + p_size
            WHERE tenant_id = p_tenant
            RETURNING next_seq - p_size AS base
          ),
          inserted AS (
            INSERT INTO lawful_consent_events
              (tenant_id, seq, event_id, subject_id, kind, time, body, audit_index, ip_sealed, user_agent_sealed, import_id)
            SELECT p_tenant, counter.base + x.o, x.e, x.s, x.k, x.t, convert_to(x.b, 'UTF8'), x.a,
              decode(x.ip, 'hex'), decode(x.ua, 'hex'), x.i
            FROM counter, jsonb_to_recordset(p_events)
              AS x(o bigint, e uuid, s uuid, k text, t timestamptz, b text, a bigint, ip text, ua text, i uuid)
          ),
          m AS (
            SELECT m.* FROM counter, jsonb_to_recordset(p_outcomes) AS m(
              s uuid, l text,
              n text, ns timestamptz, ne uuid, p text, ps timestamptz, pe uuid,
              g text, gs timestamptz, ge uuid, w text, ws timestamptz, we uuid)
          ),
          found AS (
            SELECT m.*, x.row_id FROM m CROSS JOIN LATERAL (
              SELECT st.ctid AS row_id FROM lawful_consent_state st
              WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
              OFFSET 0
            ) x
          ),
          updated AS (
            UPDATE lawful_consent_state st
            SET status = CASE st.status WHEN 'pending' THEN f.p WHEN 'granted' THEN f.g ELSE f.w END,
              since = CASE st.status WHEN 'pending' THEN f.ps WHEN 'granted' THEN f.gs ELSE f.ws END,
              event_id = CASE st.status WHEN 'pending' THEN f.pe WHEN 'granted' THEN f.ge ELSE f.we END
            FROM found f
            WHERE st.ctid = f.row_id
              AND (CASE st.status WHEN 'pending' THEN f.p WHEN 'granted' THEN f.g ELSE f.w END) IS NOT NULL
          )
          INSERT INTO lawful_consent_state (tenant_id, subject_id, list_id, status, since, event_id)
          SELECT p_tenant, m.s, m.l, m.n, m.ns, m.ne FROM m
          WHERE m.n IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM lawful_consent_state st
            WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
            OFFSET 0
          );
          RETURN NULL;
        END
        $$
      `
    ], { discard: true })),
  // Grants checked against withdrawals at write time. An import read its contacts' states, then
  // wrote its grants: a withdrawal committed in between was overwritten. The function now takes
  // the checks of a batch's grants (`p_withdrawals`, see `withdrawalChecks` in ConsentStore),
  // evaluated after those of its confirmations, under the tenant's counter row lock; when one
  // fails it answers `{ "grants": [...] }`, the refused grants' event ids, and writes nothing. A
  // refusal of confirmations is still answered as a bare array, as a process that passes no
  // `p_withdrawals` (not yet upgraded) reads it. As in 0007, the function is dropped and made
  // again rather than overloaded; four- and five-argument calls still work.
  "0008_append_checks_withdrawals": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`DROP FUNCTION lawful_consent_append(uuid, bigint, jsonb, jsonb, jsonb)`,
      sql`
        CREATE FUNCTION lawful_consent_append(
          p_tenant uuid, p_size bigint, p_events jsonb, p_outcomes jsonb, p_checks jsonb DEFAULT NULL,
          p_withdrawals jsonb DEFAULT NULL
        )
        RETURNS jsonb
        LANGUAGE plpgsql
        SET plan_cache_mode = force_generic_plan
        SET enable_hashjoin = off
        SET enable_mergejoin = off
        AS $$
        DECLARE
          v_refused jsonb;
        BEGIN
          INSERT INTO lawful_consent_tenants AS c (tenant_id, next_seq) VALUES (p_tenant, 0)
          ON CONFLICT (tenant_id) DO UPDATE SET next_seq = c.next_seq;

          -- A check passes when the (subject, list) starts in a status of "ok" ('none': no
          -- state), or pending by one of the grants "x" names. Each state is read by its key.
          IF p_checks IS NOT NULL THEN
            SELECT jsonb_agg(DISTINCT c.e) INTO v_refused
            FROM jsonb_to_recordset(p_checks) AS c(e uuid, s uuid, l text, ok text[], x uuid[])
            LEFT JOIN LATERAL (
              SELECT st.status, st.event_id FROM lawful_consent_state st
              WHERE st.tenant_id = p_tenant AND st.subject_id = c.s AND st.list_id = c.l
              OFFSET 0
            ) st ON true
            WHERE NOT (
              coalesce(coalesce(st.status, 'none') = ANY (c.ok), false)
              OR coalesce(st.status = 'pending' AND st.event_id = ANY (c.x), false)
            );
            IF v_refused IS NOT NULL THEN
              RETURN v_refused;
            END IF;
          END IF;

          -- A grant is refused when its (subject, list) starts in a status of "bad", or, when "keep"
          -- (the batch's events before it leave a withdrawn list as it is), is withdrawn since "t".
          IF p_withdrawals IS NOT NULL THEN
            SELECT jsonb_agg(DISTINCT c.e) INTO v_refused
            FROM jsonb_to_recordset(p_withdrawals) AS c(e uuid, s uuid, l text, t timestamptz, bad text[], keep boolean)
            LEFT JOIN LATERAL (
              SELECT st.status, st.since FROM lawful_consent_state st
              WHERE st.tenant_id = p_tenant AND st.subject_id = c.s AND st.list_id = c.l
              OFFSET 0
            ) st ON true
            WHERE coalesce(st.status, 'none') = ANY (c.bad)
              OR coalesce(c.keep AND st.status = 'withdrawn' AND st.since >= c.t, false);
            IF v_refused IS NOT NULL THEN
              RETURN jsonb_build_object('grants', v_refused);
            END IF;
          END IF;

          WITH counter AS (
            UPDATE lawful_consent_tenants SET next_seq = next_seq + p_size
            WHERE tenant_id = p_tenant
            RETURNING next_seq - p_size AS base
          ),
          inserted AS (
            INSERT INTO lawful_consent_events
              (tenant_id, seq, event_id, subject_id, kind, time, body, audit_index, ip_sealed, user_agent_sealed, import_id)
            SELECT p_tenant, counter.base + x.o, x.e, x.s, x.k, x.t, convert_to(x.b, 'UTF8'), x.a,
              decode(x.ip, 'hex'), decode(x.ua, 'hex'), x.i
            FROM counter, jsonb_to_recordset(p_events)
              AS x(o bigint, e uuid, s uuid, k text, t timestamptz, b text, a bigint, ip text, ua text, i uuid)
          ),
          m AS (
            SELECT m.* FROM counter, jsonb_to_recordset(p_outcomes) AS m(
              s uuid, l text,
              n text, ns timestamptz, ne uuid, p text, ps timestamptz, pe uuid,
              g text, gs timestamptz, ge uuid, w text, ws timestamptz, we uuid)
          ),
          found AS (
            SELECT m.*, x.row_id FROM m CROSS JOIN LATERAL (
              SELECT st.ctid AS row_id FROM lawful_consent_state st
              WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
              OFFSET 0
            ) x
          ),
          updated AS (
            UPDATE lawful_consent_state st
            SET status = CASE st.status WHEN 'pending' THEN f.p WHEN 'granted' THEN f.g ELSE f.w END,
              since = CASE st.status WHEN 'pending' THEN f.ps WHEN 'granted' THEN f.gs ELSE f.ws END,
              event_id = CASE st.status WHEN 'pending' THEN f.pe WHEN 'granted' THEN f.ge ELSE f.we END
            FROM found f
            WHERE st.ctid = f.row_id
              AND (CASE st.status WHEN 'pending' THEN f.p WHEN 'granted' THEN f.g ELSE f.w END) IS NOT NULL
          )
          INSERT INTO lawful_consent_state (tenant_id, subject_id, list_id, status, since, event_id)
          SELECT p_tenant, m.s, m.l, m.n, m.ns, m.ne FROM m
          WHERE m.n IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM lawful_consent_state st
            WHERE st.tenant_id = p_tenant AND st.subject_id = m.s AND st.list_id = m.l
            OFFSET 0
          );
          RETURN NULL;
        END
        $$
      `
    ], { discard: true }))
}

/** Runs the package's migrations with the given client. @internal */
export const migrate = (sql: SqlClient.SqlClient): Effect.Effect<void, Migrations.MigrationFailed> =>
  Migrations.run("consent-proof", migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))
