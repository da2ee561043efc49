/**
 * What a package records when it processes personal data: who did what, why,
 * to whose data. An event names the subject by its opaque `SubjectId` only;
 * its details are JSON without personal data (counts, ids, categories).
 *
 * @since 0.1.0
 */
import * as Issues from "@lawful/core/Issues"
import * as CoreJson from "@lawful/core/Json"
import { SubjectId } from "@lawful/core/SubjectId"
import * as CoreText from "@lawful/core/Text"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { AuditEventInvalid } from "./AuditTrail.js"
import { check } from "./internal/eventCheck.js"

// Text a database cannot store is refused when the event is made (`@lawful/core/Text`), so every
// store keeps what the memory store keeps, and an append never fails at the database on it.
const Text = CoreText.nonEmpty

// Text of up to 200 characters that stays in the log in clear for as long as the log is kept, and
// that no erasure reaches: never a person's address. `what` says what the text is instead; the
// refusal does not quote it.
const withoutAddress = (what: string) =>
  Text(200).pipe(
    Schema.filter((text) => !text.includes("@"), {
      message: () => `${what}, never an email address: it holds "@"`
    })
  )

const ActorId = withoutAddress("an actor id is an opaque id (a staff number, an API key id)")

const Purpose = withoutAddress("a purpose is a name (newsletter, consent-management)")

/**
 * An actor named by its id: the platform itself (`system`), a tenant's API key,
 * or a member of the platform's staff. The member of `Actor` that is not the
 * subject (`Actor.members[0]`): the actor of an entry that names no subject,
 * such as a redaction's or a de-link's. Its id is an opaque identifier, as
 * `Actor` says: an id holding `@` is refused.
 *
 * @since 0.1.0
 * @category models
 */
export const NamedActor = Schema.Struct({
  kind: Issues.refusedAsExpected(Schema.Literal("system", "api-key", "staff")),
  id: ActorId
})

/**
 * @since 0.1.0
 * @category models
 */
export type NamedActor = typeof NamedActor.Type

/**
 * Who acted: the platform itself, a tenant's API key, a member of the
 * platform's staff (with their staff id), all three a `NamedActor`, or the
 * subject (named by the event's `subject`).
 *
 * An actor's id is written to the log in clear and no erasure reaches it,
 * so it is an opaque identifier (`staff-42`, an API key's id), never
 * personal data such as a name or an email address: an id holding `@` is
 * refused.
 *
 * @since 0.1.0
 * @category models
 */
export const Actor = Schema.Union(NamedActor, Schema.Struct({ kind: Issues.refusedAsExpected(Schema.Literal("subject")) }))

/**
 * @since 0.1.0
 * @category models
 */
export type Actor = typeof Actor.Type

/**
 * A dotted action name: `consent.recorded`, `subject.erased`,
 * `staff.access.granted`.
 *
 * @since 0.1.0
 * @category models
 */
export const Action = CoreText.Storable.pipe(
  Schema.pattern(/^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/, {
    message: () => "an action is a dotted lower-case name such as consent.recorded"
  }),
  Schema.maxLength(120, {
    description: "a dotted name of at most 120 characters",
    message: () => "an action is a dotted name of at most 120 characters"
  })
)

/**
 * The lawful bases of GDPR Art. 6(1).
 *
 * @since 0.1.0
 * @category models
 */
export const LegalBasis = Schema.Literal(
  "consent",
  "contract",
  "legal-obligation",
  "vital-interests",
  "public-task",
  "legitimate-interests"
).pipe(Issues.refusedAsExpected)

/**
 * @since 0.1.0
 * @category models
 */
export type LegalBasis = typeof LegalBasis.Type

/**
 * The record an operation touched, by type and id (never by personal data).
 * The id stays in the log in clear as the actor's id does, out of reach of
 * any erasure: an id holding `@` (an email address) is refused, without
 * quoting it.
 *
 * @since 0.1.0
 * @category models
 */
export const Resource = Schema.Struct({
  type: Text(100),
  id: withoutAddress("a resource id is an opaque id (a record's id, a category's name)")
})

/**
 * @since 0.1.0
 * @category models
 */
export type Resource = typeof Resource.Type

/**
 * A JSON value.
 *
 * @since 0.1.0
 * @category models
 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * A JSON value (finite numbers only, so its canonical form is defined; strings
 * and member names without NUL characters or unpaired surrogates, which
 * PostgreSQL's `jsonb` refuses).
 *
 * @since 0.1.0
 * @category models
 */
export const Json: Schema.Schema<Json> = Schema.suspend(() =>
  Schema.Union(
    Schema.Null,
    Schema.Boolean,
    Schema.Finite,
    CoreText.Storable,
    Schema.Array(Json),
    Schema.Record({ key: CoreText.Storable, value: Json })
  )
)

const detailsForm =
  "a JSON object (finite numbers, no undefined, arrays without holes, plain objects, no NUL or unpaired surrogates)"

// An object, whose members the filter of `Details` checks. Its message keeps a value that is not
// one (a name given as the details) out of the refusal.
const DetailsObject = Schema.declare(
  (value): value is { readonly [key: string]: Json } =>
    typeof value === "object" && value !== null && !Array.isArray(value),
  { identifier: "Details", description: detailsForm, message: () => `expected ${detailsForm}` }
)

/**
 * Details: a JSON object without personal data, 32 levels deep at most, its
 * strings and member names without NUL characters or unpaired surrogates. Checked
 * by a direct walk rather than a recursive Schema, because every append
 * decodes one. A refusal says what the details hold that is not JSON
 * (`"holds an object that is not plain (a Date, ...)"`), never the details.
 *
 * @since 0.1.0
 * @category models
 */
export const Details: Schema.Schema<{ readonly [key: string]: Json }> = DetailsObject.pipe(
  Schema.filter((details) => {
    const problem = CoreJson.problem(details, { maxDepth: 32, storableText: true })
    return problem === undefined || `holds ${problem}, which is not JSON`
  }, { description: detailsForm })
)

// `undefined`, refused without the value given instead: Effect's own message for the `undefined`
// of `Schema.optional` quotes it ("Expected undefined, actual ..."), a name given as the subject,
// details holding one.
const Absent = Schema.Undefined.annotations({ message: () => "expected undefined (the member left out)" })

// As `Schema.optional`, the same types, with the `undefined` of `Absent`.
const optional = <S extends Schema.Schema.Any>(schema: S) =>
  Schema.optionalWith(Schema.Union(schema, Absent), { exact: true })

/**
 * An operation to record.
 *
 * Its `purpose` is a name (`newsletter`, `consent-management`), written to the
 * log in clear as the actor's id is, out of reach of any erasure: a purpose
 * holding `@` (an email address) is refused, without quoting it.
 *
 * `new AuditEvent(fields)` throws a `ParseError` on an invalid field (text
 * too long or empty, an action that is not a dotted name, an address as the
 * actor id or purpose): inside `Effect.gen` that is a defect, not a failure.
 * Its message says which field and what is expected, never the value. For a
 * typed failure, make the event with `make`, which fails `AuditEventInvalid`,
 * or give `append` / `appendAll` a plain object of the fields: an invalid one
 * fails `AuditEventInvalid` there, quoting nothing. (`Schema.decodeUnknown(AuditEvent)`
 * fails with a `ParseError`, which quotes nothing either.)
 *
 * @since 0.1.0
 * @category models
 */
export class AuditEvent extends Schema.Class<AuditEvent>("@lawful/audit-trail/AuditEvent")({
  actor: Actor,
  action: Action,
  purpose: optional(Purpose),
  legalBasis: optional(LegalBasis),
  subject: optional(SubjectId),
  resource: optional(Resource),
  details: optional(Details)
}) {}

/**
 * An event made from its fields, checked as `append` checks an event (the
 * fields as `new AuditEvent` checks them, and what no single field says: an
 * event whose actor is the subject names its `subject`), or
 * `AuditEventInvalid` saying what is wrong without quoting it, the reason
 * `append` gives: an event `make` makes, `append` takes. Where `new AuditEvent`
 * throws, which inside `Effect.gen` is a defect.
 *
 * ```ts
 * const event = yield* AuditEvent.make({ actor: { kind: "staff", id: staffId }, action: "notes.note.added", purpose: "notes" })
 * yield* trail.append(tenant, event)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  fields: ConstructorParameters<typeof AuditEvent>[0]
): Effect.Effect<AuditEvent, AuditEventInvalid> =>
  Effect.suspend(() =>
    Either.match(check(fields), {
      onLeft: (reason) => Effect.fail(new AuditEventInvalid({ reason })),
      onRight: Effect.succeed
    })
  )
