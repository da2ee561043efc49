import { assert } from "@effect/vitest"
import * as SubjectId from "@lawful/core/SubjectId"
import * as TenantId from "@lawful/core/TenantId"
import { contractSuite } from "@lawful/core/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import type * as AuditEntry from "../src/AuditEntry.js"
import type { AuditEvent } from "../src/AuditEvent.js"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as MerkleProof from "../src/MerkleProof.js"
import * as ProofBundle from "../src/ProofBundle.js"
import { auditMemory, auditSql } from "../src/testing.js"
import { event } from "./AuditLogSuite.js"

const day = (d: number, hour = 0) => new Date(Date.UTC(2026, 0, d, hour))
const retention = { kind: "system", id: "retention" } as const

// Every page of a query, from the first, following `next`; `between` runs before each page is read.
const allPages = (
  log: AuditLog.AuditLog["Type"],
  tenant: TenantId.TenantId,
  query: AuditLog.Query,
  between: (page: number) => Effect.Effect<unknown, unknown> = () => Effect.void
) =>
  Effect.gen(function*() {
    const seen: Array<number> = []
    let after: number | undefined
    for (let page = 0;; page++) {
      yield* Effect.orDie(between(page))
      const result = yield* log.query(tenant, { ...query, ...(after === undefined ? {} : { after }) })
      assert.isAtMost(result.entries.length, query.limit ?? 100)
      seen.push(...result.entries.map((e) => e.index))
      if (Option.isNone(result.next)) return seen
      assert.strictEqual(result.next.value, result.entries[result.entries.length - 1]!.index)
      after = result.next.value
    }
  })

// What a query should return, read off the entries (the plain model of the filters).
const model = (entries: ReadonlyArray<AuditEntry.AuditEntry>, query: AuditLog.Query) =>
  entries.filter((e) =>
    (query.subject === undefined || (Option.isSome(e.subject) && e.subject.value.id === query.subject)) &&
    (query.actor === undefined || JSON.stringify(e.actor) === JSON.stringify(query.actor)) &&
    (query.actionPrefix === undefined || e.action.startsWith(query.actionPrefix)) &&
    (query.from === undefined || e.time >= query.from) &&
    (query.to === undefined || e.time < query.to)
  ).map((e) => e.index)

const refusedAs = <A>(result: Either.Either<A, { readonly _tag: string }>, tag: string, what: string) => {
  assert.isTrue(Either.isLeft(result), `${what}: accepted, ${JSON.stringify(Either.getOrUndefined(result))?.slice(0, 200)}`)
  if (Either.isLeft(result)) assert.strictEqual(result.left._tag, tag, `${what}: ${String(result.left)}`)
}

contractSuite("audit-trail review 16c", { memory: auditMemory, sql: auditSql }, (it) => {
  // ---- pagination ---------------------------------------------------------------------------

  it.effect("paging with the returned cursor gives every matching entry once, in order, at every page size, with appends between pages and filters combined", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const [s1, s2] = yield* Effect.all([SubjectId.make, SubjectId.make])
      const varied = (n: number): AuditEvent =>
        event(n, {
          ...(n % 3 === 0 ? { subject: s1 } : n % 3 === 1 ? { subject: s2 } : {}),
          ...(n % 4 === 0 ? { actor: { kind: "staff", id: "s-1" } } : {}),
          action: n % 5 === 0 ? "staff.access.granted" : n % 2 === 0 ? "consent.recorded" : "consent.withdrawn"
        })
      const queries: ReadonlyArray<AuditLog.Query> = [
        {},
        { subject: s1 },
        { subject: s1, actionPrefix: "consent." },
        { actor: { kind: "staff", id: "s-1" }, from: day(2), to: day(4) },
        { subject: s2, actor: { kind: "api-key", id: "key-1" }, actionPrefix: "consent.w", from: day(1, 12) }
      ]
      const N = 12
      for (const [q, query] of queries.entries()) {
        for (let limit = 1; limit <= N + 1; limit++) {
          const tenant = yield* TenantId.make
          // N entries over four days, then one more before each of the first five pages is read, in the
          // time range or not.
          yield* TestClock.setTime(day(1).getTime())
          for (let n = 0; n < N; n++) {
            yield* log.append(tenant, varied(n))
            yield* TestClock.adjust("8 hours")
          }
          yield* TestClock.setTime(day(3).getTime())
          let n = N
          const seen = yield* allPages(log, tenant, { ...query, limit }, (page) =>
            page < 5 ? log.append(tenant, varied(n++)) : Effect.void)
          const entries = (yield* log.query(tenant, { limit: 1000 })).entries
          const expected = model(entries, query)
          assert.deepStrictEqual(seen, expected, `query ${q}, limit ${limit}`)
        }
      }
    }), { timeout: 240_000 })

  it.effect("a cursor that no page returns (fractional, not finite, negative, beyond any index) is refused as QueryInvalid, alike on every store", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* log.appendAll(tenant, Array.from({ length: 5 }, (_, i) => event(i)))
      for (const after of [2.5, Number.NaN, Infinity, -Infinity, 1e300, -1, 2 ** 53, "2" as unknown as number]) {
        refusedAs(yield* Effect.either(log.query(tenant, { after })), "QueryInvalid", `after ${String(after)}`)
      }
      // A cursor of another tenant's or another query's pages is an index: it pages this query of this tenant.
      const other = yield* TenantId.make
      yield* log.appendAll(other, Array.from({ length: 50 }, (_, i) => event(i)))
      const foreign = Option.getOrThrow((yield* log.query(other, { limit: 3 })).next)
      assert.deepStrictEqual((yield* log.query(tenant, { after: foreign })).entries.map((e) => e.index), [3, 4])
      assert.deepStrictEqual((yield* log.query(tenant, { after: 40 })).entries, [])
      assert.deepStrictEqual((yield* log.query(tenant, { after: 0, actionPrefix: "subject." })).entries.map((e) => e.index), [1, 3])
    }))

  // ---- filters --------------------------------------------------------------------------------

  it.effect("an action prefix matches literally: a dot is a dot, and %, _ and \\ are no wildcards", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const actions = ["consent.recorded", "consentx.y", "a_b.c", "axb.c", "consent.withdrawn", "consent_x.y"]
      yield* log.appendAll(tenant, actions.map((action, i) => event(i, { action })))
      const by = (actionPrefix: string) =>
        Effect.map(log.query(tenant, { actionPrefix }), (page) => page.entries.map((e) => e.action))
      assert.deepStrictEqual(yield* by("consent."), ["consent.recorded", "consent.withdrawn"])
      assert.deepStrictEqual(yield* by("a_"), ["a_b.c"])
      assert.deepStrictEqual(yield* by("consent_"), ["consent_x.y"])
      for (const prefix of ["%", "_", "\\", "consent%", "a\\_", "Consent."]) assert.deepStrictEqual(yield* by(prefix), [], prefix)
      assert.deepStrictEqual(yield* by(""), actions)
    }))

  it.effect("a time range takes entries at its from and before its to, on every store", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(day(1).getTime())
      for (let i = 0; i < 4; i++) {
        yield* log.append(tenant, event(i))
        yield* TestClock.adjust("1 day")
      }
      const range = (from: Date | undefined, to: Date | undefined) =>
        Effect.map(log.query(tenant, { from, to }), (page) => page.entries.map((e) => e.index))
      assert.deepStrictEqual(yield* range(day(2), day(3)), [1])
      assert.deepStrictEqual(yield* range(day(2), undefined), [1, 2, 3])
      assert.deepStrictEqual(yield* range(undefined, day(2)), [0])
      assert.deepStrictEqual(yield* range(new Date(day(2).getTime() + 1), day(4)), [2])
      assert.deepStrictEqual(yield* range(day(2), day(2)), [])
    }))

  it.effect("a valid date before any PostgreSQL can store (4713 BC) bounds a query, a redaction and a count as on memory, never a store failure", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const store = yield* AuditStore.AuditStore
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(day(1).getTime())
      yield* log.appendAll(tenant, Array.from({ length: 3 }, (_, i) => event(i)))
      for (const ancient of [new Date(-8.64e15), new Date(Date.UTC(-5000, 0, 1)), new Date(Date.UTC(-4713, 10, 23, 23, 59, 59, 999))]) {
        const what = ancient.toISOString()
        const range = (query: AuditLog.Query) =>
          Effect.map(Effect.either(log.query(tenant, query)), Either.map((page) => page.entries.map((e) => e.index)))
        assert.deepStrictEqual(yield* range({ from: ancient }), Either.right([0, 1, 2]), `from ${what}`)
        assert.deepStrictEqual(yield* range({ to: ancient }), Either.right([]), `to ${what}`)
        assert.deepStrictEqual(yield* range({ from: ancient, to: ancient }), Either.right([]), `from and to ${what}`)
        assert.deepStrictEqual(
          yield* Effect.either(log.redactDetails(tenant, { before: ancient, actor: retention, limit: 10 })),
          Either.right([]),
          `redaction before ${what}`
        )
        assert.deepStrictEqual(yield* Effect.either(store.countDetails(tenant, { before: ancient })), Either.right(0), `count before ${what}`)
      }
      assert.strictEqual(yield* store.countDetails(tenant, { before: day(2) }), 3)
    }))

  it.effect("a time bound that is not a valid date, or a range whose from is after its to, is refused as QueryInvalid", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      yield* TestClock.setTime(day(1).getTime())
      yield* log.appendAll(tenant, Array.from({ length: 3 }, (_, i) => event(i)))
      const bad: ReadonlyArray<[string, AuditLog.Query]> = [
        ["from invalid", { from: new Date(Number.NaN) }],
        ["to invalid", { to: new Date("not a date") }],
        ["from a string", { from: "2026-01-01" as unknown as Date }],
        ["reversed", { from: day(3), to: day(2) }]
      ]
      for (const [what, query] of bad) refusedAs(yield* Effect.either(log.query(tenant, query)), "QueryInvalid", what)
    }))

  it.effect("a filter no entry can hold (a NUL in a prefix or actor id, a subject that is not a lower-case UUID) is refused as QueryInvalid, not a store failure", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* log.appendAll(tenant, Array.from({ length: 3 }, (_, i) => event(i, { subject })))
      const bad: ReadonlyArray<[string, AuditLog.Query]> = [
        ["prefix with NUL", { actionPrefix: "consent\u0000" }],
        ["prefix with an unpaired surrogate", { actionPrefix: "consent\ud800" }],
        ["actor id with NUL", { actor: { kind: "staff", id: "s\u0000" } }],
        ["actor of no kind", { actor: { kind: "robot", id: "r" } as unknown as AuditLog.Query["actor"] }],
        ["subject not a UUID", { subject: "not-a-uuid" as SubjectId.SubjectId }],
        ["subject in upper case", { subject: subject.toUpperCase() as SubjectId.SubjectId }]
      ]
      for (const [what, query] of bad) refusedAs(yield* Effect.either(log.query(tenant, query)), "QueryInvalid", what)
      // The refusal names the filter, never the value given.
      const refused = yield* Effect.flip(log.query(tenant, { subject: `x${subject}` as SubjectId.SubjectId }))
      assert.notInclude(refused.message, subject)
    }))

  // ---- redaction and de-linking ---------------------------------------------------------------

  it.effect("a redaction takes exactly the entries its prefix, exclusions and limit select, records counts only, keeps every proof, and a second one redacts nothing", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const [held, free] = yield* Effect.all([SubjectId.make, SubjectId.make])
      yield* TestClock.setTime(day(1).getTime())
      const events = Array.from({ length: 12 }, (_, n) =>
        event(n, {
          subject: n % 3 === 0 ? held : free,
          action: n % 2 === 0 ? "consent.recorded" : "subject.exported"
        }))
      for (const e of events) {
        yield* log.append(tenant, e)
        yield* TestClock.adjust("1 hour")
      }
      const checkpoint = yield* log.checkpoint(tenant)
      yield* TestClock.adjust("30 days")
      const before = day(15)
      const options = { before, actor: retention, actionPrefix: "consent.", excludeSubjects: new Set([held]) }
      // consent.* entries are the even ones; the held subject's are multiples of 3: 2, 4, 8, 10 remain, oldest first.
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { ...options, limit: 3 }), [2, 4, 8])
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { ...options, limit: 3 }), [10])
      assert.deepStrictEqual(yield* log.redactDetails(tenant, { ...options, limit: 3 }), [])
      const entries = (yield* log.query(tenant, { to: before })).entries
      assert.deepStrictEqual(entries.filter((e) => Option.isNone(e.details)).map((e) => e.index), [2, 4, 8, 10])
      const receipts = (yield* log.query(tenant, { actionPrefix: "audit.details.redacted" })).entries
      assert.strictEqual(receipts.length, 2, "a redaction of nothing is recorded")
      for (const receipt of receipts) {
        const details = Option.getOrThrow(receipt.details).value
        assert.sameMembers(Object.keys(details), ["count", "firstIndex", "lastIndex", "before"])
        assert.isTrue(Option.isNone(receipt.subject))
        const text = JSON.stringify(receipt)
        assert.notInclude(text, held)
        assert.notInclude(text, free)
      }
      assert.isTrue((yield* log.verify(tenant)).ok)
      for (const index of [2, 4, 8, 10]) yield* ProofBundle.verify(yield* log.proofBundle(tenant, index), log.verifierKey)
      const now = yield* log.checkpoint(tenant)
      const proof = yield* log.consistencyProof(tenant, checkpoint.size, now.size)
      yield* MerkleProof.verifyConsistency({ size1: checkpoint.size, size2: now.size, root1: checkpoint.root, root2: now.root, proof })
    }))

  it.effect("a de-link takes the subject out of its queries in the given tenant only, and its entries still verify and prove", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const [tenant, other] = yield* Effect.all([TenantId.make, TenantId.make])
      const subject = yield* SubjectId.make
      for (const t of [tenant, other]) yield* log.appendAll(t, Array.from({ length: 6 }, (_, i) => event(i, i % 2 === 0 ? { subject } : {})))
      const checkpoint = yield* log.checkpoint(tenant)
      assert.strictEqual(yield* log.delinkSubject(tenant, subject, { kind: "system", id: "erasure" }), 3)
      assert.deepStrictEqual((yield* log.query(tenant, { subject })).entries, [])
      assert.deepStrictEqual((yield* log.query(other, { subject })).entries.map((e) => e.index), [0, 2, 4])
      const [delinked] = (yield* log.query(tenant, { actionPrefix: "audit.subject.delinked" })).entries
      assert.deepStrictEqual(Option.getOrThrow(delinked!.details).value, { entries: 3 })
      assert.notInclude(JSON.stringify(delinked), subject)
      for (const index of [0, 2, 4]) {
        const entry = yield* log.entry(tenant, index)
        assert.isTrue(Option.isNone(entry.subject) && entry.hadSubject)
        yield* ProofBundle.verify(yield* log.proofBundle(tenant, index), log.verifierKey)
      }
      for (const t of [tenant, other]) assert.isTrue((yield* log.verify(t)).ok)
      const now = yield* log.checkpoint(tenant)
      const proof = yield* log.consistencyProof(tenant, checkpoint.size, now.size)
      yield* MerkleProof.verifyConsistency({ size1: checkpoint.size, size2: now.size, root1: checkpoint.root, root2: now.root, proof })
    }))

  it.effect("a redaction's prefix or excluded subjects, or a de-link's subject, that no entry can hold are refused as AuditEventInvalid, and nothing changes", () =>
    Effect.gen(function*() {
      const log = yield* AuditLog.AuditLog
      const tenant = yield* TenantId.make
      const subject = yield* SubjectId.make
      yield* TestClock.setTime(day(1).getTime())
      yield* log.appendAll(tenant, Array.from({ length: 4 }, (_, i) => event(i, { subject })))
      yield* TestClock.adjust("30 days")
      const redact = (options: Partial<Parameters<AuditLog.AuditLog["Type"]["redactDetails"]>[1]>) =>
        Effect.either(log.redactDetails(tenant, { before: day(15), actor: retention, limit: 10, ...options }))
      refusedAs(yield* redact({ actionPrefix: "consent\u0000" }), "AuditEventInvalid", "prefix with NUL")
      refusedAs(yield* redact({ excludeSubjects: new Set(["not-a-uuid" as SubjectId.SubjectId]) }), "AuditEventInvalid", "excluded subject not a UUID")
      refusedAs(
        yield* redact({ excludeSubjects: new Set([subject.toUpperCase() as SubjectId.SubjectId]) }),
        "AuditEventInvalid",
        "excluded subject in upper case"
      )
      refusedAs(
        yield* Effect.either(log.delinkSubject(tenant, "not-a-uuid" as SubjectId.SubjectId, { kind: "system", id: "erasure" })),
        "AuditEventInvalid",
        "de-linked subject not a UUID"
      )
      const entries = (yield* log.query(tenant, {})).entries
      assert.strictEqual(entries.length, 4, "an entry was appended")
      assert.isTrue(entries.every((e) => Option.isSome(e.details) && Option.isSome(e.subject)))
    }))
})
