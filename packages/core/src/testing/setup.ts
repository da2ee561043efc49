/**
 * Makes chai's deep equality tell `Option.some(x)` from `Option.none()`: a
 * vitest setup file, for `setupFiles`, and imported by `@lawful/core/testing`.
 *
 * ```ts
 * // vitest.config.ts
 * export default defineConfig({ test: { setupFiles: ["@lawful/core/testing/setup"] } })
 * ```
 *
 * chai's deep equality (`assert.deepStrictEqual`, `assert.deepEqual`,
 * `expect(...).to.eql`) takes `Option.some(x)` and `Option.none()` for equal:
 * their own keys differ in number, so deep-eql falls back to comparing what
 * they iterate, and both iterate one opaque value with no keys of its own.
 * Every assertion that expects `Option.none()` would then pass whatever the
 * value. Once this runs, two values whose Options differ in tag, anywhere
 * inside arrays and plain objects, are not equal; the rest is left to chai.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import { chai } from "vitest"

const optionsAgree = (actual: unknown, expected: unknown, seen: Set<unknown>): boolean => {
  if (Option.isOption(actual) && Option.isOption(expected)) {
    if (actual._tag !== expected._tag) return false
    return Option.isNone(actual) || optionsAgree(actual.value, (expected as Option.Some<unknown>).value, seen)
  }
  if (Option.isOption(actual) || Option.isOption(expected)) return true // an Option against another kind of value: chai's call
  if (typeof actual !== "object" || actual === null || typeof expected !== "object" || expected === null) return true
  if (seen.has(actual)) return true
  seen.add(actual)
  if (Array.isArray(actual) && Array.isArray(expected)) {
    return actual.every((item, i) => i >= expected.length || optionsAgree(item, expected[i], seen))
  }
  // Plain objects and class instances (Schema classes, errors) alike: by their own fields.
  for (const key of Object.keys(actual)) {
    if (Object.hasOwn(expected, key) && !optionsAgree((actual as any)[key], (expected as any)[key], seen)) return false
  }
  return true
}

// Installed twice (a second copy of this module), it fails and passes the same assertions.
const optionEquality: Chai.ChaiPlugin = (_chai, utils) => {
  for (const name of ["eql", "eqls"]) {
    utils.overwriteMethod(_chai.Assertion.prototype, name, (original: (...args: Array<unknown>) => unknown) =>
      function(this: Chai.AssertionStatic, expected: unknown, ...rest: Array<unknown>) {
        const actual = utils.flag(this, "object")
        if (!optionsAgree(actual, expected, new Set())) {
          // Not equal, whatever deep-eql says: fails `eql`, passes `not.eql`.
          return this.assert(
            false,
            "expected #{this} to deeply equal #{exp} (an Option is Some on one side and None on the other)",
            "expected #{this} to not deeply equal #{exp}",
            expected,
            actual,
            true
          )
        }
        return original.apply(this, [expected, ...rest])
      })
  }
}

chai.use(optionEquality)
