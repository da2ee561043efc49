/**
 * Helpers for testing Lawful stores, for this repository's packages and for
 * users who write their own stores: run one contract suite on every backend.
 *
 * - `memory`: the store's in-memory layer;
 * - `pglite`: the store's SQL layer on an in-memory PGlite, loaded from a
 *   snapshot of a fresh database (initdb runs once per machine, not per file);
 * - `postgres`: the store's SQL layer on PostgreSQL when `TEST_DATABASE_URL`
 *   is set, in a schema of its own created for the run and dropped after.
 *
 * A store that needs core's services (the Vault, the directory) gets them from
 * `coreMemory` / `coreSql`:
 *
 * ```ts
 * contractSuite("MyStore", {
 *   memory: MyStore.layerMemory.pipe(Layer.provideMerge(coreMemory)),
 *   sql: MyStore.layerSql.pipe(Layer.provideMerge(coreSql))
 * }, (it) => { ... })
 * ```
 *
 * Needs `vitest` and `@effect/vitest` (optional peer dependencies of core).
 * Importing it does what `@lawful/core/testing/setup` does: it makes chai's
 * deep equality tell `Option.some(x)` from `Option.none()`; put that entry in
 * vitest's `setupFiles` so that test files that do not import this one have
 * it too. The databases and core's layers, which need no vitest, are in
 * `@lawful/core/testing/database` (re-exported here), for scripts and
 * benchmarks.
 *
 * @since 0.1.0
 */
import { assert, layer as vitestLayer } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Tracer from "effect/Tracer"
import { readFileSync } from "node:fs"
import { inspect } from "node:util"
import { install } from "./internal/optionEquality.js"
import type { Backend, Database, SqlBackend } from "./testing/database.js"
import { databaseLayer, sqlBackends } from "./testing/database.js"

export * from "./testing/database.js"

// What `./testing/setup` does, done here too, so a test file that imports this one has it.
install()

/**
 * The layers of a store under test: the in-memory one, and the SQL one that
 * needs a database.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreLayers<ROut, E> {
  readonly memory: Layer.Layer<ROut, E>
  readonly sql: Layer.Layer<ROut, E, Database>
}

/**
 * Runs one contract suite on the memory layer, on PGlite, and on PostgreSQL
 * when `TEST_DATABASE_URL` is set. Each backend builds its layer once and
 * shares it between the suite's tests, so tests should use their own tenant.
 *
 * @since 0.1.0
 * @category constructors
 */
export const contractSuite = <ROut, E>(
  name: string,
  layers: StoreLayers<ROut, E>,
  suite: (it: Vitest.MethodsNonLive<ROut>, backend: Backend) => void,
  options: { readonly timeout?: number } = {}
): void => {
  const timeout = options.timeout ?? 120_000
  vitestLayer(layers.memory, { timeout })(`${name} (memory)`, (it) => suite(it, "memory"))
  for (const backend of sqlBackends) {
    vitestLayer(layers.sql.pipe(Layer.provide(databaseLayer(backend))), { timeout })(
      `${name} (${backend === "pglite" ? "PGlite" : "PostgreSQL"})`,
      (it) => suite(it, backend)
    )
  }
}

/**
 * Runs a suite on each SQL backend with the store layer and the database
 * itself, for tests that need raw SQL (tampering, crash recovery).
 *
 * @since 0.1.0
 * @category constructors
 */
export const sqlSuite = <ROut, E>(
  name: string,
  layer: Layer.Layer<ROut, E, Database>,
  suite: (it: Vitest.MethodsNonLive<ROut | Database>, backend: SqlBackend) => void,
  options: { readonly timeout?: number } = {}
): void => {
  const timeout = options.timeout ?? 120_000
  for (const backend of sqlBackends) {
    vitestLayer(layer.pipe(Layer.provideMerge(databaseLayer(backend))), { timeout })(
      `${name} (${backend === "pglite" ? "PGlite" : "PostgreSQL"})`,
      (it) => suite(it, backend)
    )
  }
}
const loggedForms = (error: unknown) =>
  [
    ["JSON", String(JSON.stringify(error))],
    ["inspection", inspect(error, { depth: Infinity })]
  ] as const

/**
 * Everything a logger may write of an error: its JSON and its inspection
 * (`util.inspect`, every level deep), one after the other.
 *
 * @since 0.1.0
 * @category utils
 */
export const asLogged = (error: unknown): string => loggedForms(error).map(([, text]) => text).join("\n")

/**
 * The spans `effect` opens, through the tracer in place, whatever it ends
 * with: to check what a trace exporter would see (no address, no id that is
 * not one, among their attributes).
 *
 * ```ts
 * const spans = yield* spansOf(ledger.stateOf(tenant, "ann@example.com" as SubjectId))
 * assert.notInclude(spans.flatMap((span) => [...span.attributes.values()]).join(" "), "ann@example.com")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const spansOf = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<ReadonlyArray<Tracer.Span>, never, R> =>
  Effect.gen(function*() {
    const inner = yield* Effect.tracer
    const spans: Array<Tracer.Span> = []
    const recording = Tracer.make({
      span: (...args) => {
        const span = inner.span(...args)
        spans.push(span)
        return span
      },
      context: (f, fiber) => inner.context(f, fiber)
    })
    yield* Effect.exit(Effect.withTracer(effect, recording))
    return spans
  })

/**
 * Asserts that neither the JSON nor the inspection of `error` (see
 * `asLogged`) holds any of `values`, nor PostgreSQL's `Failing row`: what a
 * store error may keep of the database's diagnostics, which quote the data
 * written. Throws vitest's `AssertionError` naming the form that quotes it.
 *
 * @since 0.1.0
 * @category utils
 */
export const assertQuotesNothing = (error: unknown, values: ReadonlyArray<string>): void => {
  for (const [form, text] of loggedForms(error)) {
    for (const value of [...values, "Failing row"]) assert.notInclude(text, value, `the ${form} of the error`)
  }
}

/**
 * The SQLSTATE codes along the chain of causes of `error`, the error's own
 * first: every `code` that is a string, of it and of each `cause` in turn.
 *
 * @since 0.1.0
 * @category utils
 */
export const sqlStatesOf = (error: unknown): ReadonlyArray<string> => {
  const codes: Array<string> = []
  for (let at = error; typeof at === "object" && at !== null; at = (at as { readonly cause?: unknown }).cause) {
    const code = (at as { readonly code?: unknown }).code
    if (typeof code === "string") codes.push(code)
  }
  return codes
}

/**
 * The text of a test between the lines `// readme:start <name>` and
 * `// readme:end <name>`, and whether it appears in one of the README's
 * `ts` code blocks: so a package's README shows its example exactly as a
 * test runs it. Both are compared line by line, each line without its
 * indentation and trailing spaces, blank lines dropped.
 *
 * Fails with a message naming what is missing: the markers in the test, or
 * the first line of the region the README does not show in that order.
 *
 * @since 0.1.0
 * @category utils
 */
export const readmeShows = (
  readme: URL,
  test: URL,
  name: string
): { readonly ok: true } | { readonly ok: false; readonly reason: string } => {
  const lines = (text: string) => text.split("\n").map((line) => line.trim()).filter((line) => line.length > 0)
  const source = readFileSync(test, "utf8").split("\n")
  const start = source.findIndex((line) => line.trim() === `// readme:start ${name}`)
  const end = source.findIndex((line, i) => i > start && line.trim() === `// readme:end ${name}`)
  if (start < 0 || end < 0) return { ok: false, reason: `no region "${name}" in ${test.pathname}` }
  const region = lines(source.slice(start + 1, end).join("\n"))
  if (region.length === 0) return { ok: false, reason: `the region "${name}" is empty` }
  const blocks = [...readFileSync(readme, "utf8").matchAll(/^```ts\n([\s\S]*?)^```/gm)].map((match) => lines(match[1]!))
  let best = { matched: -1, line: region[0]! }
  for (const block of blocks) {
    for (let from = 0; from < block.length; from++) {
      let matched = 0
      while (matched < region.length && block[from + matched] === region[matched]) matched++
      if (matched === region.length) return { ok: true }
      if (matched > best.matched) best = { matched, line: region[matched]! }
    }
  }
  const document = readme.pathname.split("/").pop()
  return { ok: false, reason: `${document} does not show this line of "${name}" where the test has it: ${best.line}` }
}
