import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import { KeyStore, layerMemory, layerSql } from "../src/KeyStore.js"
import type { WrappedKey } from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as TenantId from "../src/TenantId.js"
import { contractSuite } from "../src/testing.js"
import type * as Vault from "../src/Vault.js"
import { idOf, type Key, opens, sealFor, vaultOn, type Written, wrappedBy } from "./RotationFixture.js"

// Rotation reads every tenant key of the store: each suite has a store of its own. The store
// counts the pages rotation reads, and dies past a bound a rotation that loops would reach. Each
// page read yields first, as a database round trip would, so that concurrent rotations
// interleave here as they do on SQL.
const fixture = Effect.gen(function*() {
  const inner = yield* KeyStore
  let pages = 0
  const store = KeyStore.of({
    ...inner,
    tenantKeysNotWrappedBy: (keyId, limit, after) =>
      Effect.zipRight(
        Effect.yieldNow(),
        Effect.suspend(() =>
          ++pages > 100
            ? Effect.dieMessage("rotation read more than 100 pages: it loops")
            : inner.tenantKeysNotWrappedBy(keyId, limit, after)
        )
      )
  })
  const vaultWith = (options: Vault.VaultOptions, ...keys: [Key, ...Array<Key>]) => vaultOn(store, options, ...keys)
  // Tenants in the order the store pages them (lower-case UUIDs: their text's order).
  const tenants = (n: number) =>
    Effect.map(Effect.all(Array.from({ length: n }, () => TenantId.make)), (ids) => [...ids].sort())
  return {
    store: inner,
    vaultWith,
    sealFor,
    opens,
    tenants,
    wrappedBy: (tenant: TenantId.TenantId) => wrappedBy(inner, tenant),
    pagesRead: () => pages
  }
})

contractSuite("Rotation past an unreadable tenant key", { memory: layerMemory, sql: layerSql }, (it) => {
  it.scoped("one tenant key wrapped by an unknown master key is skipped and reported; the others are re-wrapped, run after run", () =>
    Effect.gen(function*() {
      const { opens, sealFor, store, tenants, vaultWith } = yield* fixture
      const [keyA, keyB, unknown] = [MasterKey.generate(), MasterKey.generate(), MasterKey.generate()]
      const [first, middle, last] = yield* tenants(3)
      const old = yield* vaultWith({}, keyA)
      const written = [
        yield* sealFor(old, first!),
        yield* sealFor(yield* vaultWith({}, unknown), middle!),
        yield* sealFor(old, last!)
      ]

      const rotating = yield* vaultWith({}, keyB, keyA)
      const expected = { rewrapped: 2, skipped: [{ tenantId: middle!, reason: "unknown-master-key" as const }] }
      const logs: Array<string> = []
      const captured = Logger.make(({ annotations, logLevel, message }) => {
        logs.push(JSON.stringify({ level: logLevel.label, message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) }))
      })
      assert.deepStrictEqual(yield* rotating.rotateMasterKey.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, captured))), expected)
      // One warning, naming the tenant and the reason; no key material.
      const stored = yield* store.tenantKey(middle!)
      assert.strictEqual(logs.length, 1)
      assert.include(logs[0]!, `"level":"WARN"`)
      assert.include(logs[0]!, `"tenantId":"${middle}"`)
      assert.include(logs[0]!, `"reason":"unknown-master-key"`)
      if (stored._tag === "Some") {
        assert.notInclude(logs[0]!, Buffer.from(stored.value.ciphertext).toString("hex").slice(0, 16))
        assert.notInclude(logs[0]!, Buffer.from(stored.value.ciphertext).toString("base64").slice(0, 16))
        assert.notInclude(logs[0]!, stored.value.wrappedBy)
      }
      assert.deepStrictEqual(yield* rotating.rotateMasterKey, { ...expected, rewrapped: 0 })

      const after = yield* vaultWith({}, keyB)
      assert.deepStrictEqual([yield* opens(after, written[0]!), yield* opens(after, written[2]!)], [true, true])
      // The key rotation could not read is left as it was: its own master key still opens it.
      assert.isTrue(yield* opens(yield* vaultWith({}, unknown), written[1]!))
    }))
})

contractSuite("Rotation in pages smaller than the tenants", { memory: layerMemory, sql: layerSql }, (it) => {
  it.scoped("rotation pages past unreadable keys, a whole page of them too, and reports each by tenant and reason", () =>
    Effect.gen(function*() {
      const { opens, pagesRead, sealFor, store, tenants, vaultWith } = yield* fixture
      const [keyA, keyB, unknown] = [MasterKey.generate(), MasterKey.generate(), MasterKey.generate()]
      const ids = yield* tenants(7)
      const old = yield* vaultWith({}, keyA)
      const stranger = yield* vaultWith({}, unknown)
      const written = new Map<number, Written>()
      for (const [i, tenant] of ids.entries()) {
        if (i === 1 || i === 5) yield* sealFor(stranger, tenant)
        // Said to be wrapped by the old key, but its wrapping does not authenticate.
        else if (i === 2) yield* store.createTenantKey(tenant, { wrappedBy: idOf(keyA), ciphertext: new Uint8Array(60).fill(7) })
        else written.set(i, yield* sealFor(old, tenant))
      }

      const rotating = yield* vaultWith({ rotationPageSize: 2 }, keyB, keyA)
      const skipped = [
        { tenantId: ids[1]!, reason: "unknown-master-key" as const },
        { tenantId: ids[2]!, reason: "unwrap-failed" as const },
        { tenantId: ids[5]!, reason: "unknown-master-key" as const }
      ]
      assert.deepStrictEqual(yield* rotating.rotateMasterKey, { rewrapped: 4, skipped })
      assert.deepStrictEqual(yield* rotating.rotateMasterKey, { rewrapped: 0, skipped })
      assert.isAtMost(pagesRead(), 20)

      const after = yield* vaultWith({}, keyB)
      for (const one of written.values()) assert.isTrue(yield* opens(after, one))
      const result = yield* store.tenantKey(ids[2]!)
      assert.deepStrictEqual(result._tag === "Some" && [...result.value.ciphertext], Array(60).fill(7))
    }))
})

contractSuite("Rotation by two processes with different current keys", { memory: layerMemory, sql: layerSql }, (it, backend) => {
  it.scoped("two processes rotating at once to each one's own key, the other's among its previous, both finish or one stops on its key retired by the other; no key is re-wrapped twice by a run", () =>
    Effect.gen(function*() {
      const { opens, pagesRead, sealFor, store, tenants, vaultWith, wrappedBy } = yield* fixture
      const [keyA, keyB] = [MasterKey.generate(), MasterKey.generate()]
      const ids = yield* tenants(6)
      // Each the other's rollback: current A with B previous, and current B with A previous.
      const onA = yield* vaultWith({ rotationPageSize: 4 }, keyA, keyB)
      const onB = yield* vaultWith({ rotationPageSize: 4 }, keyB, keyA)
      const written = yield* Effect.forEach(ids, (tenant, i) => sealFor(i % 2 === 0 ? onA : onB, tenant))

      const logs: Array<string> = []
      const captured = Logger.make(({ annotations, message }) => {
        logs.push(JSON.stringify({ message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) }))
      })
      const outcomes = yield* Effect.all([Effect.either(onA.rotateMasterKey), Effect.either(onB.rotateMasterKey)], {
        concurrency: 2
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, captured)))
      // A run that completes retires the other's key; the other, still running, stops at its next
      // page. Never both: each checks its own key as it retires the other's.
      const finished = [[outcomes[0], keyA, keyB], [outcomes[1], keyB, keyA]] as const
      assert.isTrue(outcomes.some(Either.isRight), "one run at least finishes")
      const results: Array<Vault.RotationResult> = []
      for (const [outcome, own, other] of finished) {
        if (Either.isLeft(outcome)) {
          assert.strictEqual(outcome.left._tag, "MasterKeyRetired")
          assert.strictEqual(outcome.left._tag === "MasterKeyRetired" && outcome.left.keyId, idOf(own))
          const completed = finished.find(([result]) => Either.isRight(result))![0]
          assert.deepStrictEqual(Either.isRight(completed) && completed.right.skipped, [], "the other run completed")
          continue
        }
        results.push(outcome.right)
        // A run re-wraps each tenant key once at most, and reports the keys the other process took back.
        assert.isAtMost(outcome.right.rewrapped, ids.length)
        for (const { reason, tenantId } of outcome.right.skipped) {
          assert.strictEqual(reason, "rewrapped-by-another-process")
          assert.strictEqual(yield* wrappedBy(tenantId), idOf(other))
        }
      }
      // One warning per key left, naming the tenant and the reason.
      const skipped = results.flatMap((result) => result.skipped)
      assert.strictEqual(logs.length, skipped.length)
      for (const { tenantId } of skipped) {
        assert.isTrue(logs.some((line) => line.includes(`"tenantId":"${tenantId}"`) && line.includes(`"reason":"rewrapped-by-another-process"`)))
      }
      if (backend === "memory") {
        // Interleaved page by page, each took keys the other had re-wrapped.
        assert.strictEqual(results.length, 2)
        assert.isNotEmpty(results[0]!.skipped)
        assert.isNotEmpty(results[1]!.skipped)
      }
      assert.isAtMost(pagesRead(), 30)
      for (const one of written) assert.deepStrictEqual([yield* opens(onA, one), yield* opens(onB, one)], [true, true])

      // Once one key is current everywhere, a run completes: on the key not retired, and it
      // retires the other.
      const [survivor, key, retired] = Either.isLeft(outcomes[0]) ? [onB, keyB, keyA] : [onA, keyA, keyB]
      const left = yield* Effect.filter(ids, (tenant) => Effect.map(wrappedBy(tenant), (id) => id === idOf(retired)))
      assert.deepStrictEqual(yield* survivor.rotateMasterKey, { rewrapped: left.length, skipped: [] })
      assert.deepStrictEqual(yield* store.tenantKeysNotWrappedBy(idOf(key), 10), [])
      const after = yield* vaultWith({}, key)
      for (const one of written) assert.isTrue(yield* opens(after, one))
      const refused = yield* Effect.flip((yield* vaultWith({}, retired, key)).rotateMasterKey)
      assert.strictEqual(refused._tag === "MasterKeyRetired" && refused.keyId, idOf(retired))
    }))
})

contractSuite("KeyStore.tenantKeysNotWrappedBy", { memory: layerMemory, sql: layerSql }, (it) => {
  it.effect("pages tenant keys not wrapped by a key in tenant order, after a cursor", () =>
    Effect.gen(function*() {
      const store = yield* KeyStore
      const ids = [...yield* Effect.all(Array.from({ length: 6 }, () => TenantId.make))].sort()
      const key = (wrappedBy: string): WrappedKey => ({ wrappedBy, ciphertext: Uint8Array.of(1, 2, 3) })
      // Created out of order; the fourth is wrapped by the current key.
      for (const i of [3, 0, 5, 2, 4, 1]) yield* store.createTenantKey(ids[i]!, key(i === 3 ? "current" : "old"))
      const tenantsOf = (page: ReadonlyArray<readonly [TenantId.TenantId, WrappedKey]>) => page.map(([tenant]) => tenant)

      assert.deepStrictEqual(tenantsOf(yield* store.tenantKeysNotWrappedBy("current", 2)), [ids[0], ids[1]])
      assert.deepStrictEqual(tenantsOf(yield* store.tenantKeysNotWrappedBy("current", 2, ids[1])), [ids[2], ids[4]])
      assert.deepStrictEqual(tenantsOf(yield* store.tenantKeysNotWrappedBy("current", 2, ids[4])), [ids[5]])
      assert.deepStrictEqual(tenantsOf(yield* store.tenantKeysNotWrappedBy("current", 2, ids[5])), [])
      assert.deepStrictEqual(
        (yield* store.tenantKeysNotWrappedBy("current", 10, ids[2])).map(([tenant, wrapped]) => [tenant, wrapped.wrappedBy]),
        [[ids[4], "old"], [ids[5], "old"]]
      )
    }))
})

contractSuite("Rotation over a key store that ignores the cursor", { memory: layerMemory, sql: layerSql }, (it) => {
  it.scoped("a custom key store that ignores the cursor makes rotation die at once instead of looping", () =>
    Effect.gen(function*() {
      const inner = yield* KeyStore
      const [keyA, keyB, unknown] = [MasterKey.generate(), MasterKey.generate(), MasterKey.generate()]
      const inPagesOfOne = (store: KeyStore["Type"], ...keys: [Key, ...Array<Key>]) => vaultOn(store, { rotationPageSize: 1 }, ...keys)
      const [first, second] = [...yield* Effect.all([TenantId.make, TenantId.make])].sort()
      yield* (yield* inPagesOfOne(inner, unknown)).blindIndex(first!, "d", "x")
      yield* (yield* inPagesOfOne(inner, keyA)).blindIndex(second!, "d", "x")
      let pages = 0
      const careless = KeyStore.of({
        ...inner,
        tenantKeysNotWrappedBy: (keyId, limit) =>
          ++pages > 100 ? Effect.dieMessage("looped") : inner.tenantKeysNotWrappedBy(keyId, limit)
      })
      const exit = yield* Effect.exit((yield* inPagesOfOne(careless, keyB, keyA)).rotateMasterKey)
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause), "a defect: the store breaks its contract")
      assert.include(String(exit), "after")
      assert.isAtMost(pages, 2)
    }))
})

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(MasterKey.config, ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("LAWFUL_MASTER_KEY_PREVIOUS", () => {
  const current = MasterKey.generate()
  const previous = MasterKey.generate()

  for (const blank of ["", " ", "\n", " \t\r\n"]) {
    it.effect(`set to ${JSON.stringify(blank)} means no previous key, as when it is not set`, () =>
      Effect.gen(function*() {
        const ring = yield* withEnv({ LAWFUL_MASTER_KEY: Redacted.value(current), LAWFUL_MASTER_KEY_PREVIOUS: blank })
        assert.strictEqual(ring.current.id, idOf(current))
        assert.deepStrictEqual(ring.previous, [])
      }))
  }

  it.effect("with keys, still refuses an empty one among them", () =>
    Effect.gen(function*() {
      const ok = yield* withEnv({
        LAWFUL_MASTER_KEY: Redacted.value(current),
        LAWFUL_MASTER_KEY_PREVIOUS: ` ${Redacted.value(previous)} `
      })
      assert.deepStrictEqual(ok.previous.map((key) => key.id), [idOf(previous)])
      for (const value of [`${Redacted.value(previous)},`, `,${Redacted.value(previous)}`, " , "]) {
        const refused = yield* Effect.either(withEnv({ LAWFUL_MASTER_KEY: Redacted.value(current), LAWFUL_MASTER_KEY_PREVIOUS: value }))
        assert.isTrue(Either.isLeft(refused), JSON.stringify(value.replace(Redacted.value(previous), "<key>")))
      }
    }))

  it.effect("LAWFUL_MASTER_KEY itself is still required, and refused empty", () =>
    Effect.gen(function*() {
      for (const value of ["", "  "]) {
        assert.isTrue(Either.isLeft(yield* Effect.either(withEnv({ LAWFUL_MASTER_KEY: value }))))
      }
      assert.isTrue(Either.isLeft(yield* Effect.either(withEnv({}))))
    }))
})
