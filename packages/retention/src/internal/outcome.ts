import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import type { Appended } from "@lawful/audit-trail/AuditTrail"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
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
 * and commits its entry apart, as a log in memory keeps its entry. The append runs with a statement
 * transformer (`Statement.withTransformer`, chained before any already set) that changes nothing and
 * notes a statement bound for the transaction's connection: the one in the statement's context,
 * which `@effect/sql` runs it on. Statements are what an audit store writes with (`sql\`...\``,
 * `sql.unsafe`, `SqlSchema`); one that wrote on a connection by hand would be taken to be apart.
 * The append's context keeps the transaction's connection itself, not a stand-in: a client that
 * knows its connections by identity (PGlite's, whose `notify` and `listen` join its transaction
 * only on its own connection) still knows it.
 */
export const noting = <A extends Appended | ReadonlyArray<Appended>, E>(
  append: Effect.Effect<A, E>,
  noted: (intent: Intent) => void
): Effect.Effect<A, E> =>
  Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) => {
    let joined = false
    const watched = Option.match(transaction, {
      onNone: () => append,
      onSome: ([connection]) =>
        Effect.flatMap(FiberRef.get(Statement.currentTransformer), (previous) =>
          Statement.withTransformer(append, (statement, sql, refs, span) =>
            Effect.zipRight(
              Effect.map(Effect.serviceOption(SqlClient.TransactionConnection), (on) => {
                if (Option.isSome(on) && on.value[0] === connection) joined = true
              }),
              Option.isSome(previous) ? previous.value(statement, sql, refs, span) : Effect.succeed(statement)
            )))
    })
    return Effect.tap(watched, (appended) =>
      Effect.sync(() =>
        noted({
          indices: (Array.isArray(appended) ? appended : [appended as Appended]).map((entry) => entry.index),
          apart: !joined
        })
      ))
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
