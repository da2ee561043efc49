import type { SubjectId } from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { makeAt as uuidV7At } from "@lawful/core/Uuid"
import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ConsentEvent from "../src/ConsentEvent.js"
import type * as ConsentImport from "../src/ConsentImport.js"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentNotice from "../src/ConsentNotice.js"
import type * as ConsentStore from "../src/ConsentStore.js"

export const notice = ConsentNotice.hash({
  text: "Get our weekly digest and occasional offers. Unsubscribe at any time.",
  labels: ["Weekly digest", "Offers"],
  privacyPolicyUrl: "https://brand.example/privacy"
})

/**
 * The typed failure of `effect`, wherever it is in the cause (a `Fail` in a sequential or parallel
 * cause too); a success, or a cause with no typed failure (a defect), fails the test.
 */
export const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>, label: string) =>
  Effect.map(Effect.exit(effect), (exit) => {
    assert.isTrue(Exit.isFailure(exit), `${label}: succeeded`)
    const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
    assert.isTrue(Option.isSome(failure), `${label}: not a typed failure: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""}`)
    return Option.getOrThrow(failure) as E & { readonly _tag: string; readonly message: string }
  })

/** The tag of the typed failure of `effect` (see `failureOf`). */
export const failureTag = <A, E, R>(effect: Effect.Effect<A, E, R>, label: string) =>
  Effect.map(failureOf(effect, label), (error) => error._tag)

/** Lists of a test tenant: one single opt-in, two double opt-in. */
export const lists = [
  new ConsentLists.ConsentList({ id: ConsentLists.ListId.make("news"), name: "News", purpose: "Weekly news", doubleOptIn: false }),
  new ConsentLists.ConsentList({ id: ConsentLists.ListId.make("offers"), name: "Offers", purpose: "Offers", doubleOptIn: true }),
  new ConsentLists.ConsentList({ id: ConsentLists.ListId.make("events.local"), name: "Events", purpose: "Events", doubleOptIn: true })
]

/** A new tenant with the test lists declared. */
export const tenantWithLists = Effect.gen(function*() {
  const tenant = yield* TenantId.make
  const declared = yield* ConsentLists.ConsentLists
  yield* Effect.forEach(lists, (list) => declared.declare(tenant, list), { discard: true })
  return tenant
})

/** Who decrypts IP addresses and user agents in the tests (exports, disclosures, proofs). */
export const auditor = { kind: "staff" as const, id: "auditor-1" }

export const formSource = { type: "form" as const, formId: "signup", formVersion: 3 }

export const grant = (
  email: string,
  listIds: ReadonlyArray<string>,
  extra: Partial<ConsentLedger.RecordRequest> = {}
): ConsentLedger.RecordRequest => ({
  kind: "granted",
  email,
  lists: listIds as [string, ...Array<string>],
  source: formSource,
  notice,
  language: "en",
  ip: "203.0.113.7",
  userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
  actor: { kind: "subject" },
  ...extra
})

export const confirm = (
  email: string,
  listIds: ReadonlyArray<string>,
  extra: Partial<ConsentLedger.RecordRequest> = {}
): ConsentLedger.RecordRequest => ({
  kind: "confirmed",
  email,
  lists: listIds as [string, ...Array<string>],
  source: { type: "api" },
  ip: "2001:db8::7",
  userAgent: "Mozilla/5.0 (iPhone) Safari/18",
  actor: { kind: "subject" },
  ...extra
})

export const withdraw = (
  email: string,
  listIds: ReadonlyArray<string>,
  extra: Partial<ConsentLedger.RecordRequest> = {}
): ConsentLedger.RecordRequest => ({
  kind: "withdrawn",
  email,
  lists: listIds as [string, ...Array<string>],
  source: { type: "unsubscribe-link" },
  reason: "unsubscribe",
  actor: { kind: "subject" },
  ...extra
})

export const attestation = {
  where: "Sign-up form at https://shop.example/join and the checkout opt-in box",
  how: "Unticked checkbox with the notice 'Send me offers', confirmation email (double opt-in)",
  collectedFrom: "2024-01-01T00:00:00.000Z",
  collectedTo: "2026-06-30T00:00:00.000Z",
  attestedBy: { name: "Data Protection Officer", role: "DPO", organisation: "Shop Example SAS" }
}

// ---- imports ---------------------------------------------------------------------------------

/** The actor of the import tests. */
export const importActor = { kind: "api-key" as const, id: "key-import" }

/** `n` contacts with distinct addresses. */
export const contactsOf = (n: number) => Array.from({ length: n }, (_, i) => ({ email: `contact${i}@example.com` }))

/** An import of `contacts` to the list "news" under `idempotencyKey`. */
export const keyedImport = <E = never>(
  idempotencyKey: string,
  contacts: ConsentImport.ImportRequest<E>["contacts"],
  extra: Partial<ConsentImport.ImportRequest<E>> = {}
): ConsentImport.ImportRequest<E> => ({ attestation, lists: ["news"], actor: importActor, idempotencyKey, contacts, ...extra })

/** The tenant's imported events. */
export const importedEvents = (tenant: TenantId.TenantId) =>
  Effect.map(
    Effect.flatMap(ConsentLedger.ConsentLedger, (ledger) => ledger.events(tenant, { limit: 1000 })),
    (events) => events.filter((stored) => stored.event.source.type === "import")
  )

/** An import record as a store test saves it: started at 1 s, no report. */
export const importRecord = (importId: string): ConsentStore.ImportRecord => ({
  importId,
  attestation: { where: "there" },
  attestationHash: "a".repeat(64),
  startedAt: new Date(1_000),
  report: Option.none()
})

/** A claim by `token` at `now` on the import key of the store tests, until `until` (default a second on). */
export const importClaim = (
  token: string,
  now: number,
  until = now + 1_000,
  optionsHash = "o".repeat(64)
): ConsentStore.ImportClaim => ({
  keyHash: "k".repeat(64),
  optionsHash,
  token,
  now: new Date(now),
  until: new Date(until)
})

// ---- store tests -----------------------------------------------------------------------------

/** An event of the list "offers" as a store test appends it, at `time` (ms), with its id made at that time. */
export const recordedEvent = (
  tenant: TenantId.TenantId,
  subject: SubjectId,
  time: number,
  fields: Pick<ConsentEvent.ConsentEvent, "kind" | "awaitingConfirmation" | "confirms">
): ConsentEvent.Recorded => {
  const event = new ConsentEvent.ConsentEvent({
    id: ConsentEvent.EventId.make(uuidV7At(time)),
    tenant,
    subject,
    time: new Date(time),
    lists: [ConsentLists.ListId.make("offers")],
    lawfulBasis: "consent",
    source: { type: "api" },
    ...fields
  })
  const bytes = ConsentEvent.canonicalBytes(event)
  return { event, bytes, hash: ConsentEvent.hashOf(bytes), auditIndex: 0, ipSealed: undefined, userAgentSealed: undefined }
}
