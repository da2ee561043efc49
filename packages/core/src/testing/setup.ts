/**
 * Makes chai's deep equality tell `Option.some(x)` from `Option.none()`: a
 * vitest setup file, for `setupFiles`; importing `@lawful/core/testing` does
 * it too (once, whichever comes first).
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
import { install } from "../internal/optionEquality.js"

install()
