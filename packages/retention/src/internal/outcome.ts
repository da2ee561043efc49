import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { Appended } from "@lawful/audit-trail/AuditTrail"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * The audit entries a change appended before its commit (its intent), and whether they were
 * written apart from the change's transaction, so that they outlive its rollback.
 */
export interface Intent {
  readonly indices: ReadonlyArray<number>
  readonly apart: boolean
}

/**
 * `append`, with its entries and where they were written passed to `noted` once it succeeded.
 *
 * An entry is apart from the caller's transaction unless the append ran a statement on that
 * transaction's connection: `@effect/sql` hands an open transaction's connection to every client,
 * so an audit store on the same database joins it (and its entry rolls back with it), while a
 * store on a database of its own keeps its statements out of it (`Database.outsideTransactionAll`)
 * and commits its entry apart, as a log in memory keeps its entry. The append runs with the
 * connection watched: any statement it runs there (a savepoint of its own included) counts.
 */
export const noting = <A extends Appended | ReadonlyArray<Appended>, E>(
  append: Effect.Effect<A, E>,
  noted: (intent: Intent) => void
): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) => {
    let joined = false
    const watched = Option.match(transaction, {
      onNone: () => append,
      onSome: ([connection, depth]) =>
        Effect.provideService(append, SqlClient.TransactionConnection, [
          watching(connection, () => {
            joined = true
          }),
          depth
        ])
    })
    return Effect.tap(watched, (appended) =>
      Effect.sync(() =>
        noted({
          indices: (Array.isArray(appended) ? appended : [appended as Appended]).map((entry) => entry.index),
          apart: !joined
        })
      ))
  })

/** `connection`, calling `used` as any of its methods is called. */
const watching = (connection: Connection, used: () => void): Connection =>
  new Proxy(connection, {
    get: (target, key) => {
      const member = Reflect.get(target, key, target)
      if (typeof member !== "function") return member
      return (...args: Array<unknown>) => {
        used()
        return Reflect.apply(member, target, args)
      }
    }
  })

/**
 * What a change whose store operation failed with `error` returns, once its intent (`intent`, when
 * its entries were appended) was noted. With no intent, or with one written in the change's own
 * transaction (rolled back with it), the error. With an intent written apart, which outlived the
 * failure: whether the change is in is read again (`isIn`: a commit may fail to answer yet go
 * through); if it is, `success`; if not, the outcome entries are appended (`failed`, naming the
 * intent's entries) and the error returned. If that read or the outcome's append fails, the log
 * keeps the intent without its outcome, as after a crash between the two, and the error is
 * returned.
 */
export const settle = <A, E>(options: {
  readonly error: E
  readonly intent: Intent | undefined
  readonly isIn: Effect.Effect<Option.Option<A>, unknown>
  readonly failed: (intent: Intent) => Effect.Effect<unknown, unknown>
  readonly operation: string
}): Effect.Effect<A, E> => {
  const { error, failed, intent, isIn, operation } = options
  if (intent === undefined || !intent.apart) return Effect.fail(error)
  return Effect.flatMap(
    Effect.option(isIn),
    Option.match({
      onNone: () =>
        Effect.zipRight(
          Effect.logWarning(`${operation}: its audit entry is in the log, and whether the change is in could not be read`),
          Effect.fail(error)
        ),
      onSome: Option.match({
        onSome: Effect.succeed,
        onNone: () =>
          Effect.zipRight(
            failed(intent).pipe(
              Effect.catchAll(() =>
                Effect.logWarning(`${operation}: its audit entry is in the log, and the entry of its failure could not be appended`)
              )
            ),
            Effect.fail(error)
          )
      })
    })
  )
}
