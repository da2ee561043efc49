import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as SqlSchema from "@effect/sql/SqlSchema"
import type * as Statement from "@effect/sql/Statement"
import * as Database from "@lawful/core/Database"
import * as Migrations from "@lawful/core/Migrations"
import { TenantId } from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Assessment, AssessmentId } from "../Assessment.js"
import { ChangeNotice, NoticeId, Objection } from "../ChangeNotice.js"
import { Dpa } from "../Dpa.js"
import { ProcessingActivity } from "../ProcessingActivity.js"
import { Processor, ProcessorId } from "../Processor.js"
import { Questionnaire } from "../Questionnaire.js"
import { type Change, CommitConflict, type RegistryStore } from "./store.js"

// The registry is the platform's own: its tables are platform-wide reference data
// (small, read whole, Citus reference tables). What concerns one tenant, the
// notices it received and its objections, is keyed by tenant_id first.
const migrations: Record<string, Migrations.Migration> = {
  "0001_registry": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`
      CREATE TABLE lawful_processors (
        processor_id uuid PRIMARY KEY,
        legal_name text NOT NULL,
        status text NOT NULL,
        revision integer NOT NULL,
        registered_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        document jsonb NOT NULL
      );
      CREATE TABLE lawful_processor_dpas (
        dpa_id uuid PRIMARY KEY,
        processor_id uuid NOT NULL REFERENCES lawful_processors (processor_id),
        version text NOT NULL,
        signed_on timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL,
        document jsonb NOT NULL,
        UNIQUE (processor_id, version)
      );
      CREATE TABLE lawful_processor_questionnaires (
        questionnaire_id text NOT NULL,
        version integer NOT NULL,
        published_at timestamptz NOT NULL,
        document jsonb NOT NULL,
        PRIMARY KEY (questionnaire_id, version)
      );
      CREATE TABLE lawful_processor_assessments (
        assessment_id uuid PRIMARY KEY,
        processor_id uuid NOT NULL REFERENCES lawful_processors (processor_id),
        submitted_at timestamptz NOT NULL,
        decided boolean NOT NULL,
        document jsonb NOT NULL
      );
      CREATE INDEX lawful_processor_assessments_processor ON lawful_processor_assessments (processor_id, submitted_at);
      CREATE TABLE lawful_processing_activities (
        activity_id text PRIMARY KEY,
        updated_at timestamptz NOT NULL,
        document jsonb NOT NULL
      );
      CREATE TABLE lawful_processor_notices (
        notice_id uuid PRIMARY KEY,
        processor_id uuid NOT NULL REFERENCES lawful_processors (processor_id),
        published_at timestamptz NOT NULL,
        objection_deadline timestamptz NOT NULL,
        document jsonb NOT NULL
      );
      CREATE INDEX lawful_processor_notices_processor ON lawful_processor_notices (processor_id, published_at);
      CREATE TABLE lawful_processor_notice_recipients (
        tenant_id uuid NOT NULL,
        notice_id uuid NOT NULL REFERENCES lawful_processor_notices (notice_id),
        PRIMARY KEY (tenant_id, notice_id)
      );
      CREATE TABLE lawful_processor_objections (
        tenant_id uuid NOT NULL,
        notice_id uuid NOT NULL,
        objected_at timestamptz NOT NULL,
        reason text NOT NULL,
        PRIMARY KEY (tenant_id, notice_id),
        FOREIGN KEY (tenant_id, notice_id) REFERENCES lawful_processor_notice_recipients (tenant_id, notice_id)
      );
      CREATE INDEX lawful_processor_objections_notice ON lawful_processor_objections (notice_id, objected_at);
    `),
  // Whether a notice reached any tenant (`announcements`) is a probe by notice: without this index
  // it scanned the recipients, a row per tenant and notice. A secondary index: the table's key
  // stays tenant first, as every table of what concerns one tenant.
  "0002_notice_recipients_by_notice": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE INDEX lawful_processor_notice_recipients_notice ON lawful_processor_notice_recipients (notice_id)`)
}

const ProcessorRow = Schema.Struct({ document: Processor })
const DpaRow = Schema.Struct({ document: Dpa })
const QuestionnaireRow = Schema.Struct({ document: Questionnaire })
const AssessmentRow = Schema.Struct({ document: Assessment })
const ActivityRow = Schema.Struct({ document: ProcessingActivity })
const NoticeRow = Schema.Struct({ document: ChangeNotice })
const ObjectionRow = Schema.Struct({
  tenant_id: TenantId,
  notice_id: NoticeId,
  objected_at: Schema.DateFromSelf,
  reason: Schema.String
})
const CountRow = Schema.Struct({ n: Schema.Number })

const toObjection = (row: typeof ObjectionRow.Type) =>
  new Objection({ tenantId: row.tenant_id, noticeId: row.notice_id, objectedAt: row.objected_at, reason: row.reason })

const json = <A, I>(schema: Schema.Schema<A, I>, value: A) => JSON.stringify(Schema.encodeSync(schema)(value))

const uniqueViolation = (error: SqlError): boolean =>
  typeof error.cause === "object" && error.cause !== null && "code" in error.cause && error.cause.code === "23505"

// A commit that met a record another writer inserted: named by its constraint, never by the
// driver's message. Its cause is the violation as `Database.safeSqlError` keeps it (SQLSTATE
// 23505, the constraint, PostgreSQL's message, which names the constraint only; one a trigger
// raised, which may quote the row, left out).
const duplicateOf = (error: SqlError): CommitConflict => {
  const safe = Database.safeSqlError(error)
  const diagnostics = safe.cause
  const constraint =
    typeof diagnostics === "object" && diagnostics !== null && "constraint" in diagnostics &&
      typeof diagnostics.constraint === "string"
      ? diagnostics.constraint
      : undefined
  return new CommitConflict(
    `a concurrent writer inserted the same record (${constraint === undefined ? "a unique key" : `constraint ${constraint}`})`,
    safe
  )
}

// Rows per statement when many tenants receive a notice (two parameters a row).
const recipientBatch = 1000

/** @internal The store on SQL (PostgreSQL or PGlite), migrated when made. */
export const sqlStore = <E>(
  fail: (operation: string) => (cause: unknown) => E
): Effect.Effect<RegistryStore<E>, Migrations.MigrationFailed, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* Migrations.run("processor-registry", migrations).pipe(Effect.provideService(SqlClient.SqlClient, sql))

    const all = <A, I>(Result: Schema.Schema<A, I>, operation: string, query: () => Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
      SqlSchema.findAll({ Request: Schema.Void, Result, execute: query })(undefined).pipe(
        Effect.mapError(fail(operation))
      )
    const one = <A, I>(Result: Schema.Schema<A, I>, operation: string, query: () => Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
      SqlSchema.findOne({ Request: Schema.Void, Result, execute: query })(undefined).pipe(
        Effect.mapError(fail(operation))
      )
    const conflict = (detail: string) => Effect.fail(new CommitConflict(detail))
    const expectOne = (detail: string) => (rows: ReadonlyArray<unknown>) =>
      rows.length === 1 ? Effect.void : conflict(detail)
    // A processor read with its row locked (`lock`, a fixed clause) until the transaction ends.
    const processorLocked = (operation: string, lock: Statement.Fragment) => (id: ProcessorId) =>
      one(ProcessorRow, operation, () =>
        sql`SELECT document FROM lawful_processors WHERE processor_id = ${id} ${lock}`).pipe(
          Effect.map(Option.map((row) => row.document))
        )
    // A questionnaire version, read as `operation` (which names it in a failure).
    const questionnaireRead = (operation: string, id: string, version: number) =>
      one(QuestionnaireRow, operation, () =>
        sql`SELECT document FROM lawful_processor_questionnaires
            WHERE questionnaire_id = ${id} AND version = ${version}`).pipe(
          Effect.map(Option.map((row) => row.document))
        )

    const apply = (change: Change): Effect.Effect<void, SqlError | CommitConflict> => {
      switch (change._tag) {
        case "InsertProcessor": {
          const p = change.processor
          return sql`INSERT INTO lawful_processors
              (processor_id, legal_name, status, revision, registered_at, updated_at, document)
              VALUES (${p.id}, ${p.legalName}, ${p.status._tag}, ${p.revision}, ${p.registeredAt}, ${p.updatedAt},
                      ${json(Processor, p)}::jsonb)`
        }
        case "UpdateProcessor": {
          const p = change.processor
          return sql`UPDATE lawful_processors
              SET legal_name = ${p.legalName}, status = ${p.status._tag}, revision = ${p.revision},
                  updated_at = ${p.updatedAt}, document = ${json(Processor, p)}::jsonb
              WHERE processor_id = ${p.id} AND revision = ${p.revision - 1}
              RETURNING processor_id`.pipe(Effect.flatMap(expectOne(`processor ${p.id} changed concurrently`)))
        }
        case "InsertDpa": {
          const d = change.dpa
          return sql`INSERT INTO lawful_processor_dpas (dpa_id, processor_id, version, signed_on, recorded_at, document)
              VALUES (${d.id}, ${d.processorId}, ${d.version}, ${d.signedOn}, ${d.recordedAt}, ${json(Dpa, d)}::jsonb)`
        }
        case "InsertQuestionnaire": {
          const q = change.questionnaire
          return sql`INSERT INTO lawful_processor_questionnaires (questionnaire_id, version, published_at, document)
              VALUES (${q.id}, ${q.version}, ${q.publishedAt}, ${json(Questionnaire, q)}::jsonb)`
        }
        case "InsertAssessment": {
          const a = change.assessment
          return sql`INSERT INTO lawful_processor_assessments (assessment_id, processor_id, submitted_at, decided, document)
              VALUES (${a.id}, ${a.processorId}, ${a.submittedAt}, ${a.decision !== undefined},
                      ${json(Assessment, a)}::jsonb)`
        }
        case "DecideAssessment": {
          const a = change.assessment
          return sql`UPDATE lawful_processor_assessments SET decided = true, document = ${json(Assessment, a)}::jsonb
              WHERE assessment_id = ${a.id} AND NOT decided
              RETURNING assessment_id`.pipe(Effect.flatMap(expectOne(`assessment ${a.id} was decided concurrently`)))
        }
        case "PutActivity": {
          const a = change.activity
          return sql`INSERT INTO lawful_processing_activities (activity_id, updated_at, document)
              VALUES (${a.id}, ${a.updatedAt}, ${json(ProcessingActivity, a)}::jsonb)
              ON CONFLICT (activity_id) DO UPDATE SET updated_at = EXCLUDED.updated_at, document = EXCLUDED.document`
        }
        case "InsertNotice": {
          const n = change.notice
          const batches: Array<ReadonlyArray<TenantId>> = []
          for (let i = 0; i < change.audience.length; i += recipientBatch) {
            batches.push(change.audience.slice(i, i + recipientBatch))
          }
          return sql`INSERT INTO lawful_processor_notices (notice_id, processor_id, published_at, objection_deadline, document)
              VALUES (${n.id}, ${n.processorId}, ${n.publishedAt}, ${n.objectionDeadline}, ${json(ChangeNotice, n)}::jsonb)`
            .pipe(
              Effect.zipRight(Effect.forEach(batches, (tenants) =>
                sql`INSERT INTO lawful_processor_notice_recipients ${
                  sql.insert(tenants.map((tenant) => ({ tenant_id: tenant, notice_id: n.id })))
                }`, { discard: true }))
            )
        }
        case "InsertObjection": {
          const o = change.objection
          return sql`INSERT INTO lawful_processor_objections (tenant_id, notice_id, objected_at, reason)
              VALUES (${o.tenantId}, ${o.noticeId}, ${o.objectedAt}, ${o.reason})`
        }
      }
    }

    return {
      processor: (id) =>
        one(ProcessorRow, "processor", () =>
          sql`SELECT document FROM lawful_processors WHERE processor_id = ${id}`).pipe(
            Effect.map(Option.map((row) => row.document))
          ),
      // Under READ COMMITTED each statement after this one sees every objection committed before
      // the lock was granted; one being recorded holds the row shared (`noticeForObjection`).
      processorForChange: processorLocked("processorForChange", sql`FOR NO KEY UPDATE`),
      processorForCheck: processorLocked("processorForCheck", sql`FOR SHARE`),
      processors: Effect.suspend(() =>
        all(ProcessorRow, "processors", () =>
          sql`SELECT document FROM lawful_processors ORDER BY registered_at, processor_id`)
      ).pipe(Effect.map((rows) => rows.map((row) => row.document))),
      dpas: (processor) =>
        all(DpaRow, "dpas", () =>
          processor === undefined
            ? sql`SELECT document FROM lawful_processor_dpas ORDER BY signed_on, recorded_at, dpa_id`
            : sql`SELECT document FROM lawful_processor_dpas WHERE processor_id = ${processor}
                  ORDER BY signed_on, recorded_at, dpa_id`).pipe(Effect.map((rows) => rows.map((row) => row.document))),
      questionnaire: (id, version) => questionnaireRead("questionnaire", id, version),
      // Keyed on the id in a space of the registry's own (the pair form of the lock, as the
      // audit log's redactions key theirs), held until the transaction ends. Under READ COMMITTED
      // the read after it sees a publication of the id committed while it waited.
      questionnaireForPublication: (id, version) =>
        sql`SELECT pg_advisory_xact_lock(hashtext('lawful_processor_questionnaires'), hashtext(${id}::text))`.pipe(
          Effect.mapError(fail("questionnaireForPublication")),
          Effect.zipRight(questionnaireRead("questionnaireForPublication", id, version))
        ),
      questionnaires: Effect.suspend(() =>
        all(QuestionnaireRow, "questionnaires", () =>
          sql`SELECT document FROM lawful_processor_questionnaires ORDER BY questionnaire_id COLLATE "C", version`)
      ).pipe(Effect.map((rows) => rows.map((row) => row.document))),
      assessment: (id: AssessmentId) =>
        one(AssessmentRow, "assessment", () =>
          sql`SELECT document FROM lawful_processor_assessments WHERE assessment_id = ${id}`).pipe(
            Effect.map(Option.map((row) => row.document))
          ),
      assessments: (processor) =>
        all(AssessmentRow, "assessments", () =>
          processor === undefined
            ? sql`SELECT document FROM lawful_processor_assessments ORDER BY submitted_at, assessment_id`
            : sql`SELECT document FROM lawful_processor_assessments WHERE processor_id = ${processor}
                  ORDER BY submitted_at, assessment_id`).pipe(Effect.map((rows) => rows.map((row) => row.document))),
      activities: Effect.suspend(() =>
        all(ActivityRow, "activities", () =>
          sql`SELECT document FROM lawful_processing_activities ORDER BY activity_id COLLATE "C"`)
      ).pipe(Effect.map((rows) => rows.map((row) => row.document))),
      notice: (id) =>
        one(NoticeRow, "notice", () =>
          sql`SELECT document FROM lawful_processor_notices WHERE notice_id = ${id}`).pipe(
            Effect.map(Option.map((row) => row.document))
          ),
      noticeForObjection: (id) =>
        one(NoticeRow, "noticeForObjection", () =>
          sql`SELECT n.document FROM lawful_processor_notices n
              JOIN lawful_processors p ON p.processor_id = n.processor_id
              WHERE n.notice_id = ${id}
              FOR SHARE OF p`).pipe(Effect.map(Option.map((row) => row.document))),
      notices: (processor?: ProcessorId) =>
        all(NoticeRow, "notices", () =>
          processor === undefined
            ? sql`SELECT document FROM lawful_processor_notices ORDER BY published_at, notice_id`
            : sql`SELECT document FROM lawful_processor_notices WHERE processor_id = ${processor}
                  ORDER BY published_at, notice_id`).pipe(Effect.map((rows) => rows.map((row) => row.document))),
      noticesFor: (tenant) =>
        all(NoticeRow, "noticesFor", () =>
          sql`SELECT n.document FROM lawful_processor_notice_recipients r
              JOIN lawful_processor_notices n ON n.notice_id = r.notice_id
              WHERE r.tenant_id = ${tenant}
              ORDER BY n.published_at, n.notice_id`).pipe(Effect.map((rows) => rows.map((row) => row.document))),
      isRecipient: (tenant, notice) =>
        all(CountRow, "isRecipient", () =>
          sql`SELECT count(*)::int AS n FROM lawful_processor_notice_recipients
              WHERE tenant_id = ${tenant} AND notice_id = ${notice}`).pipe(
            Effect.map((rows) => (rows[0]?.n ?? 0) > 0)
          ),
      anyRecipient: all(CountRow, "anyRecipient", () =>
        sql`SELECT count(*)::int AS n FROM (SELECT 1 FROM lawful_processor_notice_recipients LIMIT 1) AS any_recipient`).pipe(
          Effect.map((rows) => (rows[0]?.n ?? 0) > 0)
        ),
      // Each probe of the recipients goes through their index by notice: a notice that reached a
      // tenant is kept at its first recipient, one that reached none is left out at the first
      // earlier notice that did. The recipients are never scanned.
      announcements: (processor) =>
        all(NoticeRow, "announcements", () =>
          sql`SELECT n.document FROM lawful_processor_notices n
              WHERE NOT (
                NOT EXISTS (SELECT 1 FROM lawful_processor_notice_recipients r WHERE r.notice_id = n.notice_id)
                AND EXISTS (
                  SELECT 1 FROM lawful_processor_notices m
                  WHERE m.published_at < n.published_at
                    AND EXISTS (SELECT 1 FROM lawful_processor_notice_recipients r WHERE r.notice_id = m.notice_id)
                )
              )
              ${processor === undefined ? sql`` : sql`AND n.processor_id = ${processor}`}
              ORDER BY n.published_at, n.notice_id`).pipe(Effect.map((rows) => rows.map((row) => row.document))),
      objection: (tenant, notice) =>
        one(ObjectionRow, "objection", () =>
          sql`SELECT tenant_id, notice_id, objected_at, reason FROM lawful_processor_objections
              WHERE tenant_id = ${tenant} AND notice_id = ${notice}`).pipe(Effect.map(Option.map(toObjection))),
      objections: (notice) =>
        all(ObjectionRow, "objections", () =>
          sql`SELECT tenant_id, notice_id, objected_at, reason FROM lawful_processor_objections
              WHERE notice_id = ${notice} ORDER BY objected_at, tenant_id`).pipe(
            Effect.map((rows) => rows.map(toObjection))
          ),
      objectionsOf: (processor) =>
        all(ObjectionRow, "objectionsOf", () =>
          sql`SELECT o.tenant_id, o.notice_id, o.objected_at, o.reason FROM lawful_processor_objections o
              JOIN lawful_processor_notices n ON n.notice_id = o.notice_id
              ${processor === undefined ? sql`` : sql`WHERE n.processor_id = ${processor}`}
              ORDER BY o.objected_at, o.tenant_id, o.notice_id`).pipe(Effect.map((rows) => rows.map(toObjection))),
      // Only the transaction's own statements (begin, commit) fail with a raw SqlError here:
      // everything run inside maps its own.
      transaction: <A, E2, R>(effect: Effect.Effect<A, E2, R>): Effect.Effect<A, E | E2, R> =>
        Database.withTransaction(sql)(effect).pipe(
          Effect.catchIf(
            (error): error is SqlError => error instanceof SqlError,
            (error) => Effect.fail(fail("transaction")(error))
          )
        ),
      commit: (changes) =>
        Effect.forEach(changes, apply, { discard: true }).pipe(
          Database.withTransaction(sql),
          Effect.catchIf(
            (error): error is SqlError => error._tag === "SqlError" && uniqueViolation(error),
            (error) => Effect.fail(duplicateOf(error))
          ),
          Effect.mapError(fail("commit"))
        )
    } satisfies RegistryStore<E>
  })
