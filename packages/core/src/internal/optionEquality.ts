// chai's deep equality made to tell `Option.some(x)` from `Option.none()`: see `testing/setup`.
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

let installed = false

// Installs the plugin in vitest's chai, once. Only the entries call it, at their top level
// (`testing/setup`, `testing`): the chunk that a build shares between them runs nothing on import,
// so `sideEffects` lists those entries and no chunk.
export const install = (): void => {
  if (installed) return
  installed = true
  chai.use(optionEquality)
}
