import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { KeyStore } from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import * as SubjectId from "../src/SubjectId.js"
import type * as TenantId from "../src/TenantId.js"
import * as Vault from "../src/Vault.js"

// What the master-key rotation tests share: Vaults on one key store with the master keys each
// test gives, a secret sealed per tenant, and whether a Vault still opens it.

/** A master key as configuration gives it: 32 random bytes in base64. */
export type Key = Redacted.Redacted<string>

/** A master key's id: the fingerprint `wrapped_by` and the retired keys record. */
export const idOf = (key: Key) => MasterKey.fromBytes(Buffer.from(Redacted.value(key), "base64")).id

/** A Vault on `store` whose current master key is the first of `keys`, the others previous. */
export const vaultOn = (store: KeyStore["Type"], options: Vault.VaultOptions, ...keys: [Key, ...Array<Key>]) =>
  Vault.make(options).pipe(Effect.provideService(KeyStore, store), Effect.provide(MasterKey.layer(...keys)))

/** Seals a secret of the tenant's for a new subject (making the tenant's key if it has none). */
export const sealFor = (vault: Vault.Vault["Type"], tenant: TenantId.TenantId) =>
  Effect.gen(function*() {
    const subject = yield* SubjectId.make
    return { tenant, subject, sealed: yield* vault.seal(tenant, subject, "p", `secret of ${tenant}`) }
  })

/** What `sealFor` sealed, and for whom. */
export type Written = Effect.Effect.Success<ReturnType<typeof sealFor>>

/** Whether `vault` opens what `sealFor` sealed, to the same secret. */
export const opens = (vault: Vault.Vault["Type"], written: Written) =>
  Effect.map(
    Effect.either(vault.openString(written.tenant, written.subject, "p", written.sealed)),
    (opened) => Either.isRight(opened) && opened.right === `secret of ${written.tenant}`
  )

/** The id of the master key that wraps the tenant's key in `store`, or `"none"` without one. */
export const wrappedBy = (store: KeyStore["Type"], tenant: TenantId.TenantId) =>
  Effect.map(store.tenantKey(tenant), (key) => (Option.isSome(key) ? key.value.wrappedBy : "none"))

// Whether a backend of this database waits for a lock `pid` holds; its pid when it does.
const waitingFor = (sql: SqlClient.SqlClient, pid: number) =>
  Effect.map(
    sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE ${pid}::int = ANY(pg_blocking_pids(pid))`,
    (rows) => Option.fromNullable(rows[0]?.pid)
  )

/**
 * PostgreSQL only (several connections at once). A transaction of a connection of its own holds
 * the tenant's row (`hold`, a statement whose `$1` is the tenant), uncommitted; `call`, a store
 * call that writes that row, is started and waits for it, inside its own transaction; then
 * `retire` is started while `call` is under way. Once `retire` waits for `call`, or answers at
 * once without it, the row is released. Returns whether `retire` waited, and what both gave.
 */
export const retirementDuringHeldCall = <A, E, B, E2>(options: {
  readonly hold: string
  readonly tenant: TenantId.TenantId
  readonly call: Effect.Effect<A, E>
  readonly retire: Effect.Effect<B, E2>
}) =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const holder = yield* sql.reserve
    const holderPid = Number((yield* holder.executeValues("SELECT pg_backend_pid()", []))[0]![0])
    yield* holder.executeRaw("BEGIN", [])
    yield* holder.executeRaw(options.hold, [options.tenant])
    const calling = yield* Effect.fork(options.call)
    const caller = yield* waitingFor(sql, holderPid).pipe(
      Effect.repeat({ until: Option.isSome, times: 10_000 }),
      Effect.flatMap((pid) => Option.isSome(pid) ? Effect.succeed(pid.value) : Effect.dieMessage("the store call never waited"))
    )

    const retiring = yield* Effect.fork(options.retire)
    let waited = false
    for (let poll = 0; poll < 10_000 && !waited; poll++) {
      if (Option.isSome(yield* Fiber.poll(retiring))) break
      waited = Option.isSome(yield* waitingFor(sql, caller))
    }

    yield* holder.executeRaw("ROLLBACK", [])
    return { waited, called: yield* Fiber.join(calling), retired: yield* Fiber.join(retiring) }
  })
