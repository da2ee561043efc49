/**
 * The register of every place that holds personal data, and the fan-out that
 * exports, erases or rectifies a subject's data across all of them.
 *
 * Each package that stores personal data registers a `PersonalDataSource`
 * with `register` (a layer). `subject-rights` works through the registry and
 * never imports the packages; `retention` enumerates categories from it.
 *
 * ## The contract of a source
 *
 * - `name`: unique in the registry (a second registration under the same name
 *   fails with `SourceAlreadyRegistered`); short and stable, e.g.
 *   `"consent-proof"`, because reports and receipts name sources by it.
 * - `categories`: the data categories the source holds, as
 *   `"<area>.<field>"` (`"contact.email"`, `"consent.ip"`,
 *   `"message.preview"`). Every `SourceRecord` it exports has one of them.
 * - `purposes`: why it holds them (`"consent-proof"`, `"marketing"`...).
 * - `retentionCategories`: the ids of the retention categories its records
 *   fall under, when retention purges them.
 * - `export(tenant, subject)` returns EVERYTHING the source holds about the
 *   subject, decrypted, as JSON values (`fields` is a plain object of
 *   strings, finite numbers, booleans, null, and arrays and plain objects of
 *   these, nested 100 levels deep at most; times as ISO 8601 strings;
 *   `recordedAt` an ISO 8601 date, or date and time with its offset). A
 *   subject the source does not know, or whose data is no longer readable
 *   (erased, shredded), exports no records.
 * - `erase(tenant, subject)` leaves nothing readable about the subject in the
 *   source and touches no other subject, nor another tenant; it returns how
 *   many records it removed or made unreadable.
 * - `rectify(tenant, subject, changes)`: `changes` maps field names, as they
 *   appear in the source's exported `fields`, to their new values. The same
 *   changes go to every source: a source applies the fields it holds, ignores
 *   the others, and returns how many records it changed. A change names a
 *   field, never a record: it is for the whole subject, every record of the
 *   source holding that field. A source holding several free-text records of
 *   one subject (notes, messages) cannot apply a change to one of them:
 *   rather than overwrite them all, it changes none and answers
 *   `{ rectified: 0 }` (as a source whose records are evidence, which no
 *   rectification changes, does), documenting that its records are corrected
 *   through its own operations, or erased.
 * - All three are idempotent: running one twice gives the same state, and a
 *   second `erase` reports `{ erased: 0 }`.
 * - The registry checks every result against its Schema (`SourceExport`,
 *   `Erased`, `Rectified`) and an export's categories against `categories`:
 *   a malformed result is reported as the source's failure, with
 *   `SourceResultInvalid` as cause, whose `reason` names what is wrong and
 *   where, never a value.
 * - Failures are `PersonalDataSourceError`s, made with `sourceError` from
 *   the source's own typed error (for example a `...NotFound`). The error's
 *   `cause` shows only that error's tag (`SourceErrorCause`), and that is all
 *   a log, `Cause.pretty`, `String`, `JSON.stringify` or the Schema of a
 *   failure or a report carries of it; `causeOf` gives the source's error
 *   itself to code that handles it (a `SqlError` as `Database.safeSqlError`
 *   keeps it: code and names, never the row the database quoted in its
 *   `detail`; a `ParseError` as a `RowInvalid` error without the value). So a source's error never reaches a log
 *   through the registry, even with personal data in its message or fields;
 *   still, keep it out of them, for the source's own logs and spans. The
 *   registry also reports a source that dies, as a failure whose cause is the
 *   defect (its tag, `RuntimeException`, or an `Error`'s name).
 * - The Effects of a source need nothing from the context: a source captures
 *   its services when it is built (`register` accepts an Effect that builds
 *   it).
 *
 * ## Who records the audit entry
 *
 * `export`, `erase` and `rectify` carry no actor and no request id: a source
 * cannot say who asked, nor for which request. The audit entry of an access,
 * an erasure or a rectification is recorded by the caller that fans out (the
 * subject-rights request, with its actor and request id): one receipt for the
 * request, naming the outcome of each source from the `Report`. Sources do not
 * record one. A source that does record entries of its own (consent-proof's
 * export appends `consent.exported`, under an actor of its own) must append
 * them before the audit log's de-link of the subject, which an erasure runs
 * once every source is erased: the audit trail de-links only entries before
 * the de-link's own, and "an entry appended after the de-link's names the
 * subject if its event does, and the subject's queries find it (de-link again
 * for those)". So a source's `erase` appends, if at all, within the call,
 * never afterwards (a retry, a queue).
 *
 * ## Reports
 *
 * `exportAll`, `eraseAll` and `rectifyAll` first check the tenant id and the
 * subject id: one that is not a lower-case UUID (an address put in the wrong
 * place, an upper-case UUID) fails the call with `IdInvalid`, naming which id
 * and never quoting it, before any source runs. So do `changes` given to
 * `rectifyAll` that are no object (`null`, a string, an array), with
 * `id: "changes"`. Otherwise they run every source concurrently and never fail: each returns a `Report` with one outcome per source, in the
 * order of source names (the same however the registering layers were
 * built), succeeded with its result or failed with its error. A source that
 * fails, dies, is interrupted (from within: an interruption of the caller
 * interrupts every source and the call), does not answer within
 * `sourceTimeout` (10 minutes unless `layerWith` sets another) or answers
 * with a malformed result (`SourceResultInvalid`) is reported as failed, and
 * never hides nor stops the others; `allSucceeded` says whether the
 * operation is complete. A source timed out is interrupted without being
 * waited for: what it was doing may still complete after the report, and
 * runs again safely, since every operation is idempotent.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { safeSqlError } from "./Database.js"
import * as Issues from "./Issues.js"
import * as Json from "./Json.js"
import * as SubjectIds from "./SubjectId.js"
import type { SubjectId } from "./SubjectId.js"
import * as TenantIds from "./TenantId.js"
import type { TenantId } from "./TenantId.js"

/**
 * What a source was asked to do.
 *
 * @since 0.1.0
 * @category models
 */
export const Operation = Schema.Literal("export", "erase", "rectify")

/**
 * @since 0.1.0
 * @category models
 */
export type Operation = typeof Operation.Type

/**
 * What a `PersonalDataSourceError` shows of its source's error: the error's
 * tag (`_tag`, else its `name` for an `Error`, else `"Unknown"`), and
 * nothing else. A source's own error may carry personal data in its message
 * or its fields; printing a `PersonalDataSourceError` (`String`,
 * `Cause.pretty`, a logger, `util.inspect`) or serialising it
 * (`JSON.stringify`, its Schema) follows `cause`, so `cause` holds this
 * instead, and `causeOf` gives the source's error to code that asks. Its
 * Schema encodes it as `{ _tag }`.
 *
 * @since 0.1.0
 * @category models
 */
export class SourceErrorCause {
  constructor(readonly _tag: string) {}
  toString(): string {
    return this._tag
  }
}

const tagOf = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && "_tag" in cause && typeof cause._tag === "string"
    ? cause._tag
    : cause instanceof Error
    ? cause.name
    : "Unknown"

// Where an error keeps its source's own error: a non-enumerable property (which no printer, logger nor
// serialiser walks) holding a function (which even an inspection of hidden properties does not open).
// A property rather than a WeakMap, because Effect may hand the error on behind a Proxy that carries its span.
const originalCause = Symbol("@lawful/core/PersonalDataRegistry/originalCause")

/**
 * A source could not export, erase or rectify. `cause` is a
 * `SourceErrorCause`: the tag of the source's own error (or of the defect,
 * when the source died), so that logging a report never prints what the
 * source's error holds; `causeOf` returns that error itself.
 *
 * @since 0.1.0
 * @category errors
 */
export class PersonalDataSourceError extends Schema.TaggedError<PersonalDataSourceError>()(
  "PersonalDataSourceError",
  {
    source: Schema.String,
    operation: Operation,
    cause: Schema.transform(Schema.Struct({ _tag: Schema.String }), Schema.instanceOf(SourceErrorCause), {
      strict: true,
      decode: ({ _tag }) => new SourceErrorCause(_tag),
      encode: ({ _tag }) => ({ _tag })
    })
  }
) {
  constructor(
    props: { readonly source: string; readonly operation: Operation; readonly cause: unknown },
    options?: Schema.MakeOptions
  ) {
    const cause = props.cause instanceof SourceErrorCause ? props.cause : new SourceErrorCause(tagOf(props.cause))
    super({ ...props, cause }, options)
    if (cause !== props.cause) {
      // A `SqlError` or a `ParseError` as `safeSqlError` keeps it: never the row the database quoted or a value read back.
      const original = safeSqlError(props.cause)
      Object.defineProperty(this, originalCause, { value: () => original, enumerable: false })
    }
  }

  override get message(): string {
    return `Personal-data source ${this.source} failed to ${this.operation}: ${this.cause._tag}`
  }
}

/**
 * The error a source failed with (or the defect it died with), as the source
 * gave it to `sourceError`, except a `SqlError` or a `ParseError`, which it
 * gives as `Database.safeSqlError` keeps them: of a `SqlError` its code
 * (`23502`, `23514`...) and the names of the table, column and constraint,
 * never the failing row, the duplicated key or the statement the database
 * quoted; of a `ParseError` (a row read back that its Schema refuses) an
 * `Error` named `RowInvalid` telling where and the form expected, never the
 * value. Handle it in code; do
 * not log it: a source's own error may hold personal data, which is why the
 * `PersonalDataSourceError` itself shows only its tag. An error decoded from
 * its encoded form has only that tag.
 *
 * @since 0.1.0
 * @category errors
 */
export const causeOf = (error: PersonalDataSourceError): unknown => {
  const original: unknown = (error as { readonly [originalCause]?: unknown })[originalCause]
  return typeof original === "function" ? original() : error.cause
}

/**
 * The cause of a `PersonalDataSourceError` (its tag on `cause`, itself from
 * `causeOf`) when the source did not answer within the registry's
 * `sourceTimeout`.
 *
 * @since 0.1.0
 * @category errors
 */
export class SourceTimedOut extends Schema.TaggedError<SourceTimedOut>()("SourceTimedOut", {
  timeout: Schema.DurationFromSelf
}) {
  override get message(): string {
    return `The source did not answer within ${Duration.format(this.timeout)}`
  }
}

/**
 * The cause of a `PersonalDataSourceError` (its tag on `cause`, itself from
 * `causeOf`) when the source was interrupted from within (its caller was not).
 *
 * @since 0.1.0
 * @category errors
 */
export class SourceInterrupted extends Schema.TaggedError<SourceInterrupted>()("SourceInterrupted", {}) {
  override get message(): string {
    return "The source was interrupted"
  }
}

/**
 * The cause of a `PersonalDataSourceError` (its tag on `cause`, itself from
 * `causeOf`) when the source answered with a result its Schema
 * (`SourceExport`, `Erased`, `Rectified`) refuses, or with a record of a
 * category the source does not declare. `reason` names what is wrong and
 * where (`"records[0].recordedAt is not an ISO 8601 date ..."`,
 * `"erased is not a non-negative number"`), never a value: a result holds
 * personal data.
 *
 * @since 0.1.0
 * @category errors
 */
export class SourceResultInvalid extends Schema.TaggedError<SourceResultInvalid>()("SourceResultInvalid", {
  reason: Schema.String
}) {
  override get message(): string {
    return `The source's result is malformed: ${this.reason}`
  }
}

/**
 * `exportAll`, `eraseAll` or `rectifyAll` was given a tenant id or a subject id (`id` says which)
 * that is not one: not a lower-case UUID, such as an address put in the wrong place or an
 * upper-case UUID (which PostgreSQL would read as the lower-case id and a memory store would
 * not); or `rectifyAll` was given `changes` that are no object of fields (`null`, a string, an
 * array): `id` is `"changes"`. No source was asked; what was given is not quoted.
 *
 * @since 0.1.0
 * @category errors
 */
export class IdInvalid extends Schema.TaggedError<IdInvalid>()("IdInvalid", {
  id: Schema.Literal("tenant", "subject", "changes")
}) {
  override get message(): string {
    return this.id === "changes"
      ? "The changes given are not an object of new values by field name"
      : `The ${this.id} id given is not a lower-case UUID`
  }
}

/**
 * A source with this name is already registered.
 *
 * @since 0.1.0
 * @category errors
 */
export class SourceAlreadyRegistered extends Schema.TaggedError<SourceAlreadyRegistered>()(
  "SourceAlreadyRegistered",
  { source: Schema.String }
) {
  override get message(): string {
    return `A personal-data source named ${this.source} is already registered`
  }
}

// How deep a record's fields may nest: far beyond any record's, and well within the stack of the walk.
const maxFieldsDepth = 100

const SourceFields = Schema.declare(
  (value: unknown): value is { readonly [x: string]: unknown } =>
    typeof value === "object" && value !== null && !Array.isArray(value),
  { identifier: "SourceFields", description: "an object", jsonSchema: { type: "object" } }
).pipe(
  Schema.filter((fields) => {
    const problem = Json.problem(fields, { maxDepth: maxFieldsDepth, undefinedMembers: true })
    return problem === undefined || `holds ${problem}, which is not JSON`
  })
)

const isoDateTime = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):(\d{2})))?$/

// A date that exists (no 30 February), in a time of day that exists, at an offset that does.
const isIsoDateTime = (text: string): boolean => {
  const parts = isoDateTime.exec(text)
  if (parts === null) return false
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = parts.slice(1).map((part) =>
    part === undefined ? 0 : Number(part)
  ) as [number, number, number, number, number, number, number, number]
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 &&
    second <= 59 && offsetHours <= 23 && offsetMinutes <= 59
}

const RecordedAt = Schema.String.pipe(
  Schema.filter(isIsoDateTime, {
    identifier: "RecordedAt",
    description: "an ISO 8601 date, or date and time with its offset",
    jsonSchema: { type: "string" }
  })
)

/**
 * One record a source holds about a subject: its data category, its fields
 * as JSON values (a plain object of strings, finite numbers, booleans, null,
 * and arrays and plain objects of these, nested 100 levels deep at most; a
 * member `undefined` is left out),
 * and when it was recorded, when the source knows: an ISO 8601 date, or date
 * and time with its offset (`Date.prototype.toISOString` gives one).
 *
 * @since 0.1.0
 * @category models
 */
export const SourceRecord = Schema.Struct({
  category: Schema.String,
  fields: SourceFields,
  recordedAt: Schema.optional(RecordedAt)
})

/**
 * @since 0.1.0
 * @category models
 */
export type SourceRecord = typeof SourceRecord.Type

/**
 * Everything a source holds about one subject.
 *
 * @since 0.1.0
 * @category models
 */
export const SourceExport = Schema.Struct({
  records: Schema.Array(SourceRecord)
})

/**
 * @since 0.1.0
 * @category models
 */
export type SourceExport = typeof SourceExport.Type

/**
 * How many records an erasure removed or made unreadable.
 *
 * @since 0.1.0
 * @category models
 */
export const Erased = Schema.Struct({ erased: Schema.NonNegativeInt })

/**
 * @since 0.1.0
 * @category models
 */
export type Erased = typeof Erased.Type

/**
 * How many records a rectification changed.
 *
 * @since 0.1.0
 * @category models
 */
export const Rectified = Schema.Struct({ rectified: Schema.NonNegativeInt })

/**
 * @since 0.1.0
 * @category models
 */
export type Rectified = typeof Rectified.Type

/**
 * New values of a subject's fields, by field name (as in `SourceRecord.fields`).
 *
 * @since 0.1.0
 * @category models
 */
export type Changes = Readonly<Record<string, unknown>>

/**
 * A place that holds personal data, as the registry sees it. See the module
 * documentation for what each member must guarantee.
 *
 * @since 0.1.0
 * @category models
 */
export interface PersonalDataSource {
  readonly name: string
  readonly description: string
  readonly categories: ReadonlyArray<string>
  readonly purposes: ReadonlyArray<string>
  readonly retentionCategories?: ReadonlyArray<string> | undefined
  readonly export: (tenant: TenantId, subject: SubjectId) => Effect.Effect<SourceExport, PersonalDataSourceError>
  readonly erase: (tenant: TenantId, subject: SubjectId) => Effect.Effect<Erased, PersonalDataSourceError>
  readonly rectify: (
    tenant: TenantId,
    subject: SubjectId,
    changes: Changes
  ) => Effect.Effect<Rectified, PersonalDataSourceError>
}

/**
 * A source did what it was asked.
 *
 * @since 0.1.0
 * @category models
 */
export interface SourceSucceeded<A> {
  readonly _tag: "SourceSucceeded"
  readonly source: string
  readonly result: A
}

/**
 * A source failed (or died); the error says why.
 *
 * @since 0.1.0
 * @category models
 */
export interface SourceFailed {
  readonly _tag: "SourceFailed"
  readonly source: string
  readonly error: PersonalDataSourceError
}

/**
 * The outcome of one source.
 *
 * @since 0.1.0
 * @category models
 */
export type SourceOutcome<A> = SourceSucceeded<A> | SourceFailed

/**
 * The outcome of every registered source, in the order of source names.
 * `allSucceeded` is true when no source failed (and so when none is registered).
 *
 * @since 0.1.0
 * @category models
 */
export interface Report<A> {
  readonly outcomes: ReadonlyArray<SourceOutcome<A>>
  readonly failures: ReadonlyArray<SourceFailed>
  readonly allSucceeded: boolean
}

/**
 * @since 0.1.0
 * @category services
 */
export class PersonalDataRegistry extends Context.Tag("@lawful/core/PersonalDataRegistry")<PersonalDataRegistry, {
  /** The registered sources, in the order of their names. */
  readonly sources: Effect.Effect<ReadonlyArray<PersonalDataSource>>
  /** Adds a source for the life of the scope; a second source with the same name is refused. */
  readonly register: (source: PersonalDataSource) => Effect.Effect<void, SourceAlreadyRegistered, Scope.Scope>
  /**
   * Every source's export of the subject. Like `eraseAll` and `rectifyAll`, it fails only with
   * `IdInvalid`, before any source runs, when the tenant id or the subject id is not one (and
   * `rectifyAll` when its `changes` are no object of fields).
   */
  readonly exportAll: (tenant: TenantId, subject: SubjectId) => Effect.Effect<Report<SourceExport>, IdInvalid>
  readonly eraseAll: (tenant: TenantId, subject: SubjectId) => Effect.Effect<Report<Erased>, IdInvalid>
  readonly rectifyAll: (
    tenant: TenantId,
    subject: SubjectId,
    changes: Changes
  ) => Effect.Effect<Report<Rectified>, IdInvalid>
}>() {}

/**
 * A function for `Effect.mapError` in a source: wraps any cause into a
 * `PersonalDataSourceError` of that source and operation, which shows only
 * the cause's tag and keeps the cause for `causeOf` (a `SqlError` or a
 * `ParseError` as `Database.safeSqlError` keeps it, without the data the
 * database quoted or the value a Schema refused).
 *
 * @since 0.1.0
 * @category constructors
 */
export const sourceError = (source: string, operation: Operation) => (cause: unknown): PersonalDataSourceError =>
  new PersonalDataSourceError({ source, operation, cause })

/**
 * How long the registry waits for a source by default, before it reports the
 * source as failed with `SourceTimedOut`.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultSourceTimeout: Duration.Duration = Duration.minutes(10)

// Where in the result (`records[0].recordedAt`) and what is wrong there, never the value found.
const reasonOf = (issue: ParseResult.ParseIssue): string => {
  const first = Issues.describe(issue, { refused: (form) => `is not ${form}` })[0]!
  const at = Issues.where(first.path)
  return `${at === "" ? "the result" : at} ${first.message}`
}

// A source's result, checked against its Schema: the decoded result, or why it is malformed.
const checked = <A, I>(schema: Schema.Schema<A, I>, result: unknown): Effect.Effect<A, SourceResultInvalid> =>
  ParseResult.decodeUnknown(schema)(result).pipe(
    Effect.mapError((issue) => new SourceResultInvalid({ reason: reasonOf(issue) }))
  )

const checkedExport = (source: PersonalDataSource, result: unknown): Effect.Effect<SourceExport, SourceResultInvalid> =>
  Effect.flatMap(checked(SourceExport, result), (exported) => {
    const declared = new Set(source.categories)
    const undeclared = exported.records.findIndex((record) => !declared.has(record.category))
    return undeclared < 0
      ? Effect.succeed(exported)
      : Effect.fail(
        new SourceResultInvalid({ reason: `records[${undeclared}].category is not one of the source's categories` })
      )
  })

const attempt = <A>(
  source: PersonalDataSource,
  operation: Operation,
  run: Effect.Effect<A, PersonalDataSourceError | SourceResultInvalid>,
  timeout: Duration.Duration
): Effect.Effect<SourceOutcome<A>> => {
  const fail = sourceError(source.name, operation)
  return run.pipe(
    // Disconnected, so that a source deaf to interruption cannot hold the report back.
    Effect.disconnect,
    Effect.timeoutFail({ duration: timeout, onTimeout: () => fail(new SourceTimedOut({ timeout })) }),
    // Not reached when the caller is interrupted: that interruption goes on, to every source.
    Effect.catchAllCause((cause) =>
      Option.match(Cause.failureOption(cause), {
        onSome: (error) => Effect.fail(error instanceof PersonalDataSourceError ? error : fail(error)),
        onNone: () =>
          Effect.fail(Option.match(Cause.dieOption(cause), {
            onSome: fail,
            onNone: () => fail(new SourceInterrupted())
          }))
      })
    ),
    Effect.match({
      onFailure: (error): SourceOutcome<A> => ({ _tag: "SourceFailed", source: source.name, error }),
      onSuccess: (result): SourceOutcome<A> => ({ _tag: "SourceSucceeded", source: source.name, result })
    }),
    Effect.withSpan("PersonalDataSource.run", { captureStackTrace: false, attributes: { source: source.name, operation } })
  )
}

const toReport = <A>(outcomes: ReadonlyArray<SourceOutcome<A>>): Report<A> => {
  const failures = outcomes.filter((outcome): outcome is SourceFailed => outcome._tag === "SourceFailed")
  return { outcomes, failures, allSucceeded: failures.length === 0 }
}

/**
 * How a registry runs its sources.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * How long a source may take to export, erase or rectify before it is
   * reported as failed with `SourceTimedOut` (default `defaultSourceTimeout`,
   * 10 minutes; `Duration.infinity` waits for ever).
   */
  readonly sourceTimeout?: Duration.DurationInput | undefined
}

// The ids of a request, checked before any source runs: every source would answer differently
// (a memory store "nothing there", SQL an error, or the lower-case id's data for an upper-case
// one), and a span or an error quoting them could quote an address put in their place.
const checkIds = (tenant: TenantId, subject: SubjectId): Effect.Effect<void, IdInvalid> =>
  !TenantIds.is(tenant)
    ? Effect.fail(new IdInvalid({ id: "tenant" }))
    : !SubjectIds.is(subject)
    ? Effect.fail(new IdInvalid({ id: "subject" }))
    : Effect.void

const isChanges = (changes: unknown): changes is Changes =>
  typeof changes === "object" && changes !== null && !Array.isArray(changes)

// Source names in the order of their UTF-16 code units: the same on every machine and locale.
const byName = (a: PersonalDataSource, b: PersonalDataSource) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/**
 * A new, empty registry, with `options`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (options: Options): Effect.Effect<Context.Tag.Service<typeof PersonalDataRegistry>> =>
  Effect.sync(() => {
    const timeout = Duration.decode(options.sourceTimeout ?? defaultSourceTimeout)
    const registered = new Map<string, PersonalDataSource>()
    const sources = () => [...registered.values()].sort(byName)

    // `run` asks a source and checks its result, inside the source's timeout; `check`, run after
    // the ids are checked, refuses the rest of a request before any source runs.
    const fanOut = <A>(
      operation: Operation,
      tenant: TenantId,
      subject: SubjectId,
      run: (source: PersonalDataSource) => Effect.Effect<A, PersonalDataSourceError | SourceResultInvalid>,
      check: Effect.Effect<void, IdInvalid> = Effect.void
    ): Effect.Effect<Report<A>, IdInvalid> =>
      Effect.zipRight(
        Effect.zipRight(checkIds(tenant, subject), check),
        Effect.suspend(() =>
          // Suspended, so that a source that throws instead of returning an Effect is reported too.
          Effect.forEach(
            sources(),
            (source) => attempt(source, operation, Effect.suspend(() => run(source)), timeout),
            { concurrency: "unbounded" }
          )
        ).pipe(Effect.map(toReport))
      ).pipe(
        Effect.withSpan(`PersonalDataRegistry.${operation}All`, {
          captureStackTrace: false,
          attributes: { tenant: TenantIds.describe(tenant), subject: SubjectIds.describe(subject) }
        })
      )

    return PersonalDataRegistry.of({
      sources: Effect.sync(sources),
      register: (source) =>
        Effect.acquireRelease(
          Effect.suspend(() => {
            if (registered.has(source.name)) return Effect.fail(new SourceAlreadyRegistered({ source: source.name }))
            registered.set(source.name, source)
            return Effect.void
          }),
          () => Effect.sync(() => registered.delete(source.name))
        ),
      exportAll: (tenant, subject) =>
        fanOut("export", tenant, subject, (source) =>
          Effect.flatMap(source.export(tenant, subject), (result) => checkedExport(source, result))),
      eraseAll: (tenant, subject) =>
        fanOut("erase", tenant, subject, (source) =>
          Effect.flatMap(source.erase(tenant, subject), (result) => checked(Erased, result))),
      // Changes that are no object would reach every source, each reading them its own way.
      rectifyAll: (tenant, subject, changes) =>
        fanOut(
          "rectify",
          tenant,
          subject,
          (source) =>
            Effect.flatMap(source.rectify(tenant, subject, changes), (result) => checked(Rectified, result)),
          isChanges(changes) ? Effect.void : Effect.fail(new IdInvalid({ id: "changes" }))
        )
    })
  })

/**
 * A new, empty registry, with the default options.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Context.Tag.Service<typeof PersonalDataRegistry>> = makeWith({})

/**
 * The registry, empty until `register` layers add sources to it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<PersonalDataRegistry> = Layer.effect(PersonalDataRegistry, make)

/**
 * The registry with `options` (a source timeout of its own).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<PersonalDataRegistry> =>
  Layer.effect(PersonalDataRegistry, makeWith(options))

/**
 * A layer that adds a source to the registry while it is built, and removes
 * it when released. Pass the source, or an Effect that builds it from its
 * services. A second source with the same name fails the layer with
 * `SourceAlreadyRegistered`: two packages claiming one name is a
 * configuration error that start-up must report, not a silent override.
 *
 * @since 0.1.0
 * @category layers
 */
export const register = <E = never, R = never>(
  source: PersonalDataSource | Effect.Effect<PersonalDataSource, E, R>
): Layer.Layer<never, E | SourceAlreadyRegistered, PersonalDataRegistry | Exclude<R, Scope.Scope>> =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const registry = yield* PersonalDataRegistry
      const built: PersonalDataSource = Effect.isEffect(source)
        ? yield* (source as Effect.Effect<PersonalDataSource, E, R>)
        : source as PersonalDataSource
      yield* registry.register(built)
    })
  )
