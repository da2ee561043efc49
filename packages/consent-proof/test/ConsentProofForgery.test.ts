import { assert, describe, it, layer } from "@effect/vitest"
import { AuditEvent } from "@lawful/audit-trail/AuditEvent"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as ProofBundle from "@lawful/audit-trail/ProofBundle"
import { SubjectId } from "@lawful/core/SubjectId"
import { TenantId } from "@lawful/core/TenantId"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import * as ConsentEvent from "../src/ConsentEvent.js"
import { ConsentLedger } from "../src/ConsentLedger.js"
import { ListId } from "../src/ConsentLists.js"
import * as ConsentProof from "../src/ConsentProof.js"
import { auditor, grant, tenantWithLists } from "./fixtures.js"
import { memory } from "./layers.js"

/** The verification of `text` fails with `ConsentProofInvalid`: never succeeds, never dies. */
const refused = (text: string, key: string, label: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(ConsentProof.verifyJson(text, key))
    if (Exit.isSuccess(exit)) return assert.fail(`${label}: verified`)
    const failure = Cause.failureOption(exit.cause)
    assert.isTrue(Option.isSome(failure) && failure.value._tag === "ConsentProofInvalid", `${label}: ${Cause.pretty(exit.cause)}`)
  })

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex")

layer(memory)("ConsentProof against forgery", (it) => {
  it.effect("an audit entry that commits to the event but names another action, resource or tenant proves nothing", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const other = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("bound@example.com", ["news"]))
      const genuine = ConsentProof.encode(yield* ledger.proof(tenant, recorded.event.id))
      yield* ConsentProof.verifyJson(JSON.stringify(genuine), ledger.verifierKey)
      // Whoever can append to a log writes entries that commit to the genuine event's hash.
      const forge = (into: TenantId, fields: Partial<ConstructorParameters<typeof AuditEvent>[0]>) =>
        Effect.gen(function*() {
          const appended = yield* log.append(
            into,
            new AuditEvent({
              actor: { kind: "api-key", id: "forger" },
              action: "consent.granted",
              resource: ConsentProof.auditResourceOf(recorded.event),
              details: ConsentProof.auditDetailsOf(recorded.hash),
              ...fields
            })
          )
          const entry = yield* log.entry(into, appended.index)
          const bundle = yield* log.proofBundle(into, appended.index)
          const details = Option.getOrThrow(entry.details)
          return JSON.stringify({
            ...genuine,
            auditDetails: details.value,
            auditDetailsSalt: Buffer.from(details.salt).toString("base64"),
            audit: ProofBundle.encode(bundle)
          })
        })
      // The same forgery with the right action, resource and tenant verifies: the checks below are what refuses.
      yield* ConsentProof.verifyJson(yield* forge(tenant, {}), ledger.verifierKey)
      yield* refused(yield* forge(tenant, { action: "consent.withdrawn" }), ledger.verifierKey, "another action")
      yield* refused(yield* forge(tenant, { action: "consent.disclosed" }), ledger.verifierKey, "a disclosure entry")
      yield* refused(
        yield* forge(tenant, { resource: { type: "consent-event", id: "0190a5d0-0000-7000-8000-000000000000" } }),
        ledger.verifierKey,
        "another event id"
      )
      yield* refused(
        yield* forge(tenant, { resource: { type: "consent-export", id: recorded.event.id } }),
        ledger.verifierKey,
        "another resource type"
      )
      yield* refused(yield* forge(tenant, { resource: undefined }), ledger.verifierKey, "no resource")
      yield* refused(yield* forge(other, {}), ledger.verifierKey, "another tenant's log")
    }))

  it.effect("the audit details are exactly { eventSha256 }: another member, even __proto__, is refused", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("details@example.com", ["news"]))
      const text = ConsentProof.toJson(yield* ledger.proof(tenant, recorded.event.id))
      yield* ConsentProof.verifyJson(text, ledger.verifierKey)
      for (const member of [`"__proto__":{"a":1}`, `"__proto__":null`, `"x":1`]) {
        yield* refused(text.replace(`"auditDetails":{`, `"auditDetails":{${member},`), ledger.verifierKey, member)
      }
    }))

  it.effect("a deeply nested proof is refused as invalid, never a defect", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("deep@example.com", ["news"]))
      const text = ConsentProof.toJson(yield* ledger.proof(tenant, recorded.event.id))
      const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`
      yield* refused(text.replace(`"auditDetails":{`, `"auditDetails":{"z":${deep},`), ledger.verifierKey, "in the details")
      yield* refused(text.replace(`{"version":1`, `{"z":${deep},"version":1`), ledger.verifierKey, "at the top")
      yield* refused(deep, ledger.verifierKey, "alone")
    }))

  it.effect("a disclosure is of the committed string: a lone surrogate does not pass for U+FFFD", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const recorded = yield* ledger.record(tenant, grant("fffd@example.com", ["news"], { userAgent: "Agent \uFFFD/1" }))
      const proof = yield* ledger.proof(tenant, recorded.event.id, { disclose: true, actor: auditor })
      const verified = yield* ConsentProof.verify(proof, ledger.verifierKey)
      assert.deepStrictEqual(verified.userAgent, Option.some("Agent \uFFFD/1"))
      // UTF-8 encodes a lone surrogate as U+FFFD: the commitment matches, the value is not the one recorded.
      for (const value of ["Agent \uD800/1", "Agent \uDFFF/1"]) {
        const json = ConsentProof.encode(proof)
        const forged = { ...json, disclosures: { ...json.disclosures, userAgent: { ...json.disclosures!.userAgent!, value } } }
        yield* refused(JSON.stringify(forged), ledger.verifierKey, JSON.stringify(value))
      }
    }))

  it.effect("a user agent that starts with U+FEFF is disclosed and verified as recorded", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const userAgent = "\uFEFFMozilla/5.0"
      const recorded = yield* ledger.record(tenant, grant("bom@example.com", ["news"], { userAgent }))
      const disclosed = yield* ledger.disclose(recorded, { actor: auditor })
      assert.strictEqual(disclosed.userAgent?.value, userAgent)
      const proof = yield* ledger.proof(tenant, recorded.event.id, { disclose: true, actor: auditor })
      const verified = yield* ConsentProof.verifyJson(ConsentProof.toJson(proof), ledger.verifierKey)
      assert.deepStrictEqual(verified.userAgent, Option.some(userAgent))
    }))

  it.effect("an IP address or user agent the event did not commit to is refused, however it is spelled or salted", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const v4 = yield* ledger.record(tenant, grant("v4@example.com", ["news"], { ip: "10.0.0.1" }))
      const v6 = yield* ledger.record(tenant, grant("v6@example.com", ["news"], { ip: "2001:db8::a" }))
      const bare = yield* ledger.record(tenant, grant("bare@example.com", ["news"], { ip: undefined, userAgent: undefined }))
      const json4 = ConsentProof.encode(yield* ledger.proof(tenant, v4.event.id, { disclose: true, actor: auditor }))
      const json6 = ConsentProof.encode(yield* ledger.proof(tenant, v6.event.id, { disclose: true, actor: auditor }))
      const jsonBare = ConsentProof.encode(yield* ledger.proof(tenant, bare.event.id, { disclose: true, actor: auditor }))
      assert.isUndefined(jsonBare.disclosures?.ip)
      const key = ledger.verifierKey
      const withIp = (json: ConsentProof.ConsentProofJson, ip: { value: string; salt: string }) =>
        JSON.stringify({ ...json, disclosures: { ...json.disclosures, ip } })
      const salt4 = json4.disclosures!.ip!.salt
      const salt6 = json6.disclosures!.ip!.salt
      for (const value of ["::ffff:10.0.0.1", "::ffff:a00:1", "010.0.0.1", "10.0.0.01", "10.0.0.1 ", "10.0.0.2"]) {
        yield* refused(withIp(json4, { value, salt: salt4 }), key, value)
      }
      for (const value of ["2001:DB8::A", "2001:0db8::a", "2001:db8:0:0:0:0:0:a"]) {
        yield* refused(withIp(json6, { value, salt: salt6 }), key, value)
      }
      // Another event's salt, a salt of the wrong length, a non-canonical salt, the user agent's salt.
      yield* refused(withIp(json4, { value: "10.0.0.1", salt: salt6 }), key, "another event's salt")
      yield* refused(withIp(json4, { value: "10.0.0.1", salt: Buffer.from(salt4, "base64").subarray(0, 15).toString("base64") }), key, "15 bytes")
      yield* refused(withIp(json4, { value: "10.0.0.1", salt: Buffer.concat([Buffer.from(salt4, "base64"), Buffer.alloc(1)]).toString("base64") }), key, "17 bytes")
      yield* refused(withIp(json4, { value: "10.0.0.1", salt: salt4.replace("==", "") }), key, "unpadded")
      yield* refused(withIp(json4, { value: "10.0.0.1", salt: json4.disclosures!.userAgent!.salt }), key, "the user agent's salt")
      // A disclosure of a field the event has no commitment to, even with a genuine value and salt.
      yield* refused(withIp(jsonBare, { value: "10.0.0.1", salt: salt4 }), key, "no commitment")
      yield* refused(
        JSON.stringify({ ...jsonBare, disclosures: { userAgent: json4.disclosures!.userAgent } }),
        key,
        "no user agent commitment"
      )
      yield* refused(JSON.stringify({ ...json4, disclosures: { ...json4.disclosures, email: "x" } }), key, "unknown disclosure")
      yield* refused(JSON.stringify({ ...json4, version: 2 }), key, "version 2")
      yield* refused(JSON.stringify({ ...json4, version: "1" }), key, "version \"1\"")
      yield* refused(JSON.stringify({ ...json4, proof: 1 }), key, "unknown member")
      yield* refused(`${JSON.stringify(json4)} {}`, key, "trailing data")
    }))
})

const uuid = fc.uuid()
const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/)
const listId = fc.constantFrom("news", "offers", "a.b", "z-1", "0").map(ListId.make)
const time = fc.date({ min: new Date("0000-01-01T00:00:00.000Z"), max: new Date("9999-12-31T23:59:59.999Z"), noInvalidDate: true })
const storable = fc.string({ unit: "binary", minLength: 1, maxLength: 8 }).filter((s) => !/[\0\p{Cs}]/u.test(s))
const source = fc.oneof(
  fc.record({
    type: fc.constant("form" as const),
    formId: storable,
    formVersion: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(2 ** 53 + 2, 1e21, Number.MAX_VALUE))
  }),
  fc.record({ type: fc.constant("import" as const), importId: uuid, attestation: hex64 }),
  fc.record({ type: fc.constantFrom("api" as const, "preference-centre" as const, "unsubscribe-link" as const) })
)
const optional = <A>(arb: fc.Arbitrary<A>) => fc.option(arb, { nil: undefined })

/** Any event the model can hold, well-formed or not. */
const anyEvent = fc.record({
  id: uuid.map(ConsentEvent.EventId.make),
  tenant: uuid.map(TenantId.make),
  subject: uuid.map(SubjectId.make),
  kind: fc.constantFrom("granted" as const, "confirmed" as const, "withdrawn" as const),
  time,
  lists: fc.array(listId, { minLength: 1, maxLength: 3 }) as unknown as fc.Arbitrary<readonly [ListId, ...Array<ListId>]>,
  awaitingConfirmation: fc.array(listId, { maxLength: 2 }),
  lawfulBasis: fc.constantFrom("consent" as const, "contract" as const, "legitimate-interests" as const),
  source,
  notice: optional(fc.record({ text: hex64, labels: hex64, privacyPolicy: hex64 })),
  language: optional(fc.constantFrom("en", "fr-BE")),
  ip: optional(hex64),
  userAgent: optional(hex64),
  confirms: fc.array(uuid.map(ConsentEvent.EventId.make), { maxLength: 2 }),
  reason: optional(fc.constantFrom("unsubscribe" as const, "erasure" as const)),
  collectedAt: optional(time)
})
type Fields = typeof anyEvent extends fc.Arbitrary<infer A> ? A : never

const make = (fields: Fields) => new ConsentEvent.ConsentEvent(fields, { disableValidation: true })

/** Everything an event holds, empty lists and absent members included. */
const identity = (event: ConsentEvent.ConsentEvent) =>
  JSON.stringify([
    event.id, event.tenant, event.subject, event.kind, event.time.getTime(), event.lists, event.awaitingConfirmation,
    event.lawfulBasis, event.source, event.notice ?? null, event.language ?? null, event.ip ?? null,
    event.userAgent ?? null, event.confirms, event.reason ?? null, event.collectedAt?.getTime() ?? null
  ])

/** What the ledger records: lists sorted and unique, each member only on the kind it belongs to, safe integers. */
const wellFormed = (fields: Fields): Fields => {
  const lists = ConsentEvent.normalizeLists(fields.lists) as unknown as readonly [ListId, ...Array<ListId>]
  const source = fields.source.type === "form" && !Number.isSafeInteger(fields.source.formVersion)
    ? { ...fields.source, formVersion: Number.MAX_SAFE_INTEGER }
    : fields.source
  return {
    ...fields,
    lists,
    source,
    awaitingConfirmation: fields.kind === "granted"
      ? ConsentEvent.normalizeLists(fields.awaitingConfirmation.filter((list) => lists.includes(list)))
      : [],
    confirms: fields.kind === "confirmed" ? ConsentEvent.normalizeLists(fields.confirms) : [],
    reason: fields.kind === "withdrawn" ? fields.reason : undefined
  }
}

const fieldNames: ReadonlyArray<keyof Fields> = [
  "id", "tenant", "subject", "kind", "time", "lists", "awaitingConfirmation", "lawfulBasis", "source", "notice",
  "language", "ip", "userAgent", "confirms", "reason", "collectedAt"
]

describe("ConsentEvent canonical bytes, against forgery", () => {
  it("two different events never share canonical bytes", () =>
    fc.assert(fc.property(anyEvent, anyEvent, fc.constantFrom(...fieldNames), (fields, other, field) => {
      // The second event differs from the first in one member at most, so that near misses are tried.
      const a = make(fields)
      const b = make({ ...fields, [field]: other[field] })
      if (identity(a) !== identity(b)) {
        const hex = (e: ConsentEvent.ConsentEvent) => Buffer.from(ConsentEvent.canonicalBytes(e)).toString("hex")
        assert.notStrictEqual(hex(a), hex(b), field)
      }
    }), { numRuns: 2000 }))

  it("a well-formed event decodes from its canonical bytes to itself, and an ill-formed one not to another event", () =>
    fc.assert(fc.property(anyEvent, (fields) => {
      const event = make(wellFormed(fields))
      const decoded = ConsentEvent.fromCanonicalBytes(ConsentEvent.canonicalBytes(event))
      assert.isTrue(Option.isSome(decoded))
      assert.strictEqual(identity(Option.getOrThrow(decoded)), identity(event))
      const raw = make(fields)
      const rawDecoded = ConsentEvent.fromCanonicalBytes(ConsentEvent.canonicalBytes(raw))
      if (Option.isSome(rawDecoded)) assert.strictEqual(identity(rawDecoded.value), identity(raw))
    }), { numRuns: 1000 }))

  it("bytes that spell the event in any other way are refused: BOM, escapes, duplicates, numbers, Unicode forms", () => {
    const event = make(wellFormed({
      id: ConsentEvent.EventId.make("0190a5d0-0000-7000-8000-000000000001"),
      tenant: TenantId.make("0190a5d0-0000-7000-8000-0000000000aa"),
      subject: SubjectId.make("0190a5d0-0000-7000-8000-0000000000bb"),
      kind: "granted",
      time: new Date("2026-11-29T10:00:00.123Z"),
      lists: [ListId.make("news"), ListId.make("offers")],
      awaitingConfirmation: [ListId.make("offers")],
      lawfulBasis: "consent",
      source: { type: "form", formId: "caf\u00e9", formVersion: 1000 },
      notice: { text: sha256("t"), labels: sha256("l"), privacyPolicy: sha256("p") },
      language: "en",
      ip: sha256("ip"),
      userAgent: undefined,
      confirms: [],
      reason: undefined,
      collectedAt: undefined
    }))
    const bytes = ConsentEvent.canonicalBytes(event)
    assert.isTrue(Option.isSome(ConsentEvent.fromCanonicalBytes(bytes)))
    const text = new TextDecoder().decode(bytes)
    const encoder = new TextEncoder()
    const variants = [
      text.replace(`"formVersion":1000`, `"formVersion":1e3`),
      text.replace(`"formVersion":1000`, `"formVersion":1000.0`),
      text.replace(`"formVersion":1000`, `"formVersion":01000`),
      text.replace(`"formVersion":1000`, `"formVersion":1000,"formVersion":1000`),
      text.replace(`"formVersion":1000`, `"formVersion":7,"formVersion":1000`),
      text.replace(`"kind":"granted"`, `"kind":"withdrawn","kind":"granted"`),
      text.replace(`"formId":"caf\u00e9"`, `"formId":"caf\\u00e9"`),
      text.replace(`"kind":"granted"`, `"kind":"gr\\u0061nted"`),
      text.replace(`"kind":"granted"`, `"\\u006bind":"granted"`),
      text.replace(`"v":1`, `"v":1.0`),
      text.replace(`"v":1`, `"v":-0,"v":1`),
      `${text}\n`,
      `${text}{}`,
      text.replace(`{"awaitingConfirmation":["offers"],`, `{`).replace(`"v":1}`, `"v":1,"awaitingConfirmation":["offers"]}`)
    ]
    for (const variant of variants) {
      assert.notStrictEqual(variant, text)
      assert.isTrue(Option.isNone(ConsentEvent.fromCanonicalBytes(encoder.encode(variant))), variant)
    }
    // Another Unicode form of a string is another string: another event, not another spelling.
    const nfd = ConsentEvent.fromCanonicalBytes(encoder.encode(text.replace(`"formId":"caf\u00e9"`, `"formId":"cafe\u0301"`)))
    assert.deepStrictEqual(Option.map(nfd, (e) => e.source.type === "form" && e.source.formId), Option.some("cafe\u0301"))
    // The same text after a UTF-8 byte-order mark: other bytes, another hash, the same event.
    assert.isTrue(Option.isNone(ConsentEvent.fromCanonicalBytes(new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]))), "BOM")
  })
})
