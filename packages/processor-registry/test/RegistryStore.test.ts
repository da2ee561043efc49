// The registry's store, read where the registry's operations cannot reach: the objections to
// every notice of a processor come in one read (`objectionsOf`), an objection being recorded
// waits for a transaction that holds the processor for a change (`processorForChange`), which
// reads those recorded before, a publication's read of its questionnaire waits for another
// publication of the same id under way and sees it (`questionnaireForPublication`), and the notices that told no tenant
// when there were tenants to tell are left out of the announcements (`announcements`), on every
// backend alike.
import * as SqlClient from "@effect/sql/SqlClient"
import { assert } from "@effect/vitest"
import * as Database from "@lawful/core/Database"
import { contractSuite } from "@lawful/core/testing"
import * as TenantId from "@lawful/core/TenantId"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as ChangeNotice from "../src/ChangeNotice.js"
import { sqlStore } from "../src/internal/sqlStore.js"
import { memoryStore, type RegistryStore } from "../src/internal/store.js"
import * as Processor from "../src/Processor.js"
import * as Questionnaire from "../src/Questionnaire.js"
import { processorInput, questionnaireInput, start, uniqueId, waitsFor } from "./fixtures.js"

class Store extends Context.Tag("test/RegistryStore")<Store, RegistryStore<unknown>>() {}

/** The store's database client, on SQL: to see a transaction wait for another's lock. */
class Sql extends Context.Tag("test/RegistryStore/Sql")<Sql, Option.Option<SqlClient.SqlClient>>() {}

const fail = (operation: string) => (cause: unknown) => ({ operation, cause })

const at = (minutes: number) => new Date(start + minutes * 60_000)

const processor = Effect.gen(function*() {
  return new Processor.Processor({
    id: yield* Processor.makeId,
    ...Schema.decodeUnknownSync(Processor.ProcessorInput)(processorInput({ servesTenants: true })),
    status: { _tag: "Candidate" },
    registeredAt: at(0),
    updatedAt: at(0),
    revision: 1
  })
})

const notice = (of: Processor.Processor, minutes: number) =>
  Effect.map(ChangeNotice.makeId, (id) =>
    new ChangeNotice.ChangeNotice({
      id,
      kind: "addition",
      processorId: of.id,
      processorName: of.legalName,
      services: of.services,
      locations: of.locations.map((location) => location.country),
      purposes: of.purposes,
      description: "added",
      publishedAt: at(minutes),
      objectionDeadline: at(minutes + 30 * 24 * 60)
    }))

const objection = (tenantId: TenantId.TenantId, to: ChangeNotice.ChangeNotice, minutes: number) =>
  new ChangeNotice.Objection({
    tenantId,
    noticeId: to.id,
    objectedAt: at(minutes),
    reason: Schema.decodeUnknownSync(ChangeNotice.ObjectionInput)({ reason: "not there" }).reason
  })

contractSuite("RegistryStore", {
  memory: Layer.merge(Layer.sync(Store, () => memoryStore(fail)), Layer.succeed(Sql, Option.none())),
  sql: Layer.merge(Layer.effect(Store, sqlStore(fail)), Layer.effect(Sql, Effect.map(SqlClient.SqlClient, Option.some)))
}, (it, backend) => {
  it.effect("objectionsOf reads the objections to every notice of the processor, and only those, by time", () =>
    Effect.gen(function*() {
      const store = yield* Store
      const [a, b] = [yield* TenantId.make, yield* TenantId.make]
      const objected = yield* processor
      const other = yield* processor
      const first = yield* notice(objected, 1)
      const second = yield* notice(objected, 2)
      const unrelated = yield* notice(other, 3)
      yield* store.commit([
        { _tag: "InsertProcessor", processor: objected },
        { _tag: "InsertProcessor", processor: other },
        { _tag: "InsertNotice", notice: first, audience: [a, b] },
        { _tag: "InsertNotice", notice: second, audience: [a, b] },
        { _tag: "InsertNotice", notice: unrelated, audience: [a, b] }
      ])
      assert.deepStrictEqual(yield* store.objectionsOf(objected.id), [])

      const objections = [
        objection(b, second, 10),
        objection(a, first, 11),
        objection(b, first, 12),
        objection(a, unrelated, 13)
      ]
      yield* store.commit(objections.map((o) => ({ _tag: "InsertObjection", objection: o })))

      const read = yield* store.objectionsOf(objected.id)
      assert.deepStrictEqual(read.map((o) => [o.tenantId, o.noticeId, o.objectedAt.getTime()]), [
        [b, second.id, at(10).getTime()],
        [a, first.id, at(11).getTime()],
        [b, first.id, at(12).getTime()]
      ])
      assert.deepStrictEqual(
        (yield* store.objectionsOf(other.id)).map((o) => [o.tenantId, o.noticeId]),
        [[a, unrelated.id]]
      )
    }))

  it.effect("an objection waits for a transaction that holds its processor for a change, which reads those before", () =>
    Effect.gen(function*() {
      const store = yield* Store
      const [early, late] = [yield* TenantId.make, yield* TenantId.make]
      const objected = yield* processor
      const first = yield* notice(objected, 1)
      yield* store.commit([
        { _tag: "InsertProcessor", processor: objected },
        { _tag: "InsertNotice", notice: first, audience: [early, late] }
      ])
      const record = (tenant: TenantId.TenantId, minutes: number) =>
        store.transaction(Effect.gen(function*() {
          assert.isTrue(Option.isSome(yield* store.noticeForObjection(first.id)))
          yield* store.commit([{ _tag: "InsertObjection", objection: objection(tenant, first, minutes) }])
        }))
      yield* record(early, 2)
      const approved = new Processor.Processor({ ...objected, status: { _tag: "Approved", since: at(5) }, revision: 2 })
      const later = yield* store.transaction(Effect.gen(function*() {
        assert.strictEqual(Option.getOrThrow(yield* store.processorForChange(objected.id)).revision, 1)
        assert.deepStrictEqual((yield* store.objectionsOf(objected.id)).map((o) => o.tenantId), [early])
        // Another writer's objection, in a transaction of its own, waits for this one.
        const fiber = yield* Effect.fork(Database.outsideTransaction(record(late, 3)))
        const sql = yield* Sql
        if (backend === "postgres" && Option.isSome(sql)) {
          // On a connection of its own, it waits for this transaction's session. (PGlite is one
          // session, which this transaction holds; in memory transactions run one at a time.)
          const [row] = yield* Effect.orDie(sql.value<{ pid: number }>`SELECT pg_backend_pid() AS pid`)
          assert.isTrue(yield* waitsFor(sql.value, fiber, row!.pid), "the other objection waits for this change")
        } else {
          yield* Effect.repeatN(Effect.yieldNow(), 100)
        }
        assert.deepStrictEqual((yield* store.objectionsOf(objected.id)).map((o) => o.tenantId), [early])
        yield* store.commit([{ _tag: "UpdateProcessor", processor: approved }])
        return fiber
      }))
      yield* Fiber.join(later)
      assert.deepStrictEqual((yield* store.objectionsOf(objected.id)).map((o) => o.tenantId), [early, late])
      assert.strictEqual(Option.getOrThrow(yield* store.processor(objected.id)).revision, 2)
    }))

  it.effect("a publication's read of its questionnaire waits for a publication of the same id under way, and sees it", () =>
    Effect.gen(function*() {
      const store = yield* Store
      const published = new Questionnaire.Questionnaire({
        ...Schema.decodeUnknownSync(Questionnaire.QuestionnaireInput)(questionnaireInput(uniqueId("security"))),
        publishedAt: at(0)
      })
      // Another writer's publication of the same version, in a transaction of its own: it reads
      // the version once this transaction has committed it.
      const publish = store.transaction(Effect.gen(function*() {
        const found = yield* store.questionnaireForPublication(published.id, published.version)
        if (Option.isNone(found)) yield* store.commit([{ _tag: "InsertQuestionnaire", questionnaire: published }])
        return Option.isSome(found)
      }))
      const other = yield* store.transaction(Effect.gen(function*() {
        assert.isTrue(Option.isNone(yield* store.questionnaireForPublication(published.id, published.version)))
        const fiber = yield* Effect.fork(Database.outsideTransaction(publish))
        const sql = yield* Sql
        if (backend === "postgres" && Option.isSome(sql)) {
          // On a connection of its own, it waits for this transaction's session. (PGlite is one
          // session, which this transaction holds; in memory transactions run one at a time.)
          const [row] = yield* Effect.orDie(sql.value<{ pid: number }>`SELECT pg_backend_pid() AS pid`)
          assert.isTrue(yield* waitsFor(sql.value, fiber, row!.pid), "the other publication waits for this one")
        } else {
          yield* Effect.repeatN(Effect.yieldNow(), 100)
        }
        yield* store.commit([{ _tag: "InsertQuestionnaire", questionnaire: published }])
        return fiber
      }))
      assert.isTrue(yield* Fiber.join(other), "the other publication finds the version published")
      assert.deepStrictEqual(
        (yield* store.questionnaires).filter((q) => q.id === published.id).map((q) => q.version),
        [published.version]
      )
    }))

  it.effect("announcements: every notice but those that reached no tenant after one had reached tenants", () =>
    Effect.gen(function*() {
      const store = yield* Store
      const tenant = yield* TenantId.make
      const subject = yield* processor
      // Far in the future, after any notice other tests told tenants of; and far in the past,
      // before any, when there was no tenant to tell.
      const late = 1_000_000_000
      const early = yield* notice(subject, -late)
      const told = yield* notice(subject, late + 2)
      const hollow = yield* notice(subject, late + 3)
      yield* store.commit([
        { _tag: "InsertProcessor", processor: subject },
        { _tag: "InsertNotice", notice: early, audience: [] },
        { _tag: "InsertNotice", notice: told, audience: [tenant] },
        { _tag: "InsertNotice", notice: hollow, audience: [] }
      ])
      assert.deepStrictEqual((yield* store.notices(subject.id)).map((n) => n.id), [early.id, told.id, hollow.id])
      assert.deepStrictEqual((yield* store.announcements(subject.id)).map((n) => n.id), [early.id, told.id])
      const all = (yield* store.announcements()).map((n) => n.id)
      assert.include(all, early.id)
      assert.include(all, told.id)
      assert.notInclude(all, hollow.id)
    }))
})
