import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as BoundedCache from "../src/internal/boundedCache.js"

type Step = { readonly op: "set"; readonly key: number; readonly value: number } | { readonly op: "delete"; readonly key: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant("set" as const), key: fc.integer({ min: 0, max: 400 }), value: fc.integer() }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 400 }) }), weight: 1 }
)

describe("BoundedCache", () => {
  it("holds what a model does: at most its capacity, the oldest hundredth evicted at once when a new key comes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 250 }), fc.array(step, { maxLength: 600 }), (capacity, steps) => {
        const cache = BoundedCache.make<number, number>(capacity)
        // The model: entries in the order they were first added.
        const model = new Map<number, number>()
        const evictAtOnce = Math.ceil(capacity / 100)
        for (const s of steps) {
          if (s.op === "delete") {
            assert.strictEqual(cache.delete(s.key), model.delete(s.key))
          } else {
            if (model.size >= capacity && !model.has(s.key)) {
              for (const oldest of [...model.keys()].slice(0, evictAtOnce)) model.delete(oldest)
            }
            model.set(s.key, s.value)
            cache.set(s.key, s.value)
            assert.strictEqual(cache.get(s.key), s.value)
          }
          assert.isAtMost(cache.size(), capacity)
          assert.strictEqual(cache.size(), model.size)
        }
        for (let key = 0; key <= 400; key++) assert.strictEqual(cache.get(key), model.get(key))
      })
    )
  })

  it("replaces a key it holds without evicting, even when full", () => {
    const cache = BoundedCache.make<string, number>(2)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.set("a", 3)
    assert.strictEqual(cache.size(), 2)
    assert.strictEqual(cache.get("a"), 3)
    assert.strictEqual(cache.get("b"), 2)
    // A new key evicts the oldest ("a" keeps the place it was first added in).
    cache.set("c", 4)
    assert.isUndefined(cache.get("a"))
    assert.strictEqual(cache.get("b"), 2)
    assert.strictEqual(cache.get("c"), 4)
  })

  it("keeps working past many evictions: a large cache evicts a hundredth at a time", () => {
    const cache = BoundedCache.make<number, number>(1000)
    for (let i = 0; i <= 50_000; i++) cache.set(i, i)
    // The last insert found the cache full (49,000 to 49,999) and evicted the oldest 10.
    assert.strictEqual(cache.size(), 991)
    assert.isUndefined(cache.get(49_009))
    assert.strictEqual(cache.get(49_010), 49_010)
    assert.strictEqual(cache.get(50_000), 50_000)
  })

  it("refuses a capacity under one or not an integer", () => {
    for (const capacity of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => BoundedCache.make(capacity), RangeError)
    }
  })
})
