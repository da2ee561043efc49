/**
 * Runs before every test file of every project: core's assertion setup, which
 * makes chai's deep equality tell `Option.some(x)` from `Option.none()` (see
 * packages/core/src/testing/setup.ts), as users install it in their own
 * vitest config.
 */
import "@lawful/core/testing/setup"
