/**
 * The one check of an event, made by `AuditEvent.make` and by the log's `append` / `appendAll`
 * alike, so that an event one accepts the other accepts too.
 *
 * @internal
 */
import * as Issues from "@lawful/core/Issues"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { AuditEvent } from "../AuditEvent.js"
import { isObject } from "./guards.js"

const fieldsOf = () => Schema.validateEither(Schema.Struct(AuditEvent.fields))
// Made at the first check, not when the module loads: `AuditEvent.ts` imports this module (its
// `make` checks with `check`), so `AuditEvent` is not yet defined while the modules load.
let validateFields: ReturnType<typeof fieldsOf> | undefined

// The fields checked as `new AuditEvent` checks them, or what is wrong with them, quoting nothing.
const checkFields = (fields: object) =>
  Either.mapLeft(
    (validateFields ??= fieldsOf())(fields),
    (error) => Issues.lines(error, { root: "the event" }).join("; ")
  )

// What the schema says is wrong with the fields of an event, if anything.
const schemaSays = (event: AuditEvent): string | undefined => {
  const checked = checkFields(event)
  return Either.isLeft(checked) ? checked.left : undefined
}

// What the schema of a single field cannot say, and the fields kept in clear, checked again. Text
// a database cannot store (NUL, unpaired surrogates) is refused by `AuditEvent` itself when the
// event is made. The actor id and the purpose are checked again for an address: an event made with
// `disableValidation` (a caller's fast path) skipped the schema, and both stay in the log in clear,
// out of reach of any erasure; a cheap check on every append, the schema's reason read only when it
// fails. For the same reason a subject actor carrying an id is refused: the schema drops it, but
// unchecked it was stored in clear beside the entry (SQL's `actor_id`), the subject's name or
// address out of erasure's reach.
const problem = (event: AuditEvent): string | undefined => {
  const actor: unknown = event.actor
  if (!isObject(actor)) return schemaSays(event) ?? "the event's actor is an object"
  if (event.actor.kind === "subject") {
    if (event.subject === undefined) return "an event whose actor is the subject names the subject"
    if ("id" in event.actor) return "a subject acting has no actor id: the event's subject names it"
  } else if (typeof event.actor.id !== "string" || event.actor.id.includes("@")) {
    return schemaSays(event) ?? "an actor id is an opaque id (a staff number, an API key id), never an email address"
  }
  const purpose: unknown = event.purpose
  if (purpose !== undefined && (typeof purpose !== "string" || purpose.includes("@"))) {
    return schemaSays(event) ?? "a purpose is a name (newsletter, consent-management), never an email address"
  }
  const resource: unknown = event.resource
  const resourceId: unknown = isObject(resource) ? (resource as { readonly id?: unknown }).id : undefined
  if (resource !== undefined && (typeof resourceId !== "string" || resourceId.includes("@"))) {
    return schemaSays(event) ?? "a resource id is an opaque id (a record's id, a category's name), never an email address"
  }
  return undefined
}

/**
 * The event, checked: an `AuditEvent` as it is; anything else (a plain object of its fields, which
 * TypeScript takes for one, or anything from a caller without types) as `new AuditEvent` checks
 * it, then as an event. Unchecked, an action or detail holding an address went into the log in
 * clear, and text PostgreSQL cannot store failed there as a store error where memory took it.
 * The reason never quotes a value.
 *
 * @internal
 */
export const check = (event: unknown): Either.Either<AuditEvent, string> => {
  if (!(event instanceof AuditEvent)) {
    if (!isObject(event)) return Either.left("an event is an AuditEvent (new AuditEvent({ actor, action, ... }))")
    return Either.flatMap(checkFields(event), (fields) => check(new AuditEvent(fields, true)))
  }
  const refused = problem(event)
  return refused === undefined ? Either.right(event) : Either.left(refused)
}
