/**
 * Starting a Lawful program: a failure at start-up (a missing or malformed
 * setting, an unreachable database) ends the process with one line that says
 * what to fix, never a stack trace.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

const configProblems = (error: ConfigError.ConfigError): ReadonlyArray<string> => {
  switch (error._op) {
    case "And":
    case "Or":
      return [...configProblems(error.left), ...configProblems(error.right)]
    case "MissingData":
      return [error.path.length > 0 ? `${error.path.join(".")} is not set` : error.message]
    case "InvalidData":
    case "SourceUnavailable":
    case "Unsupported":
      return [error.path.length > 0 ? `${error.path.join(".")}: ${error.message}` : error.message]
  }
}

/**
 * The one line that describes why start-up failed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (ConfigError.isConfigError(error)) return `Configuration error: ${configProblems(error)[0] ?? "invalid"}`
    if (error instanceof Error) return `Start-up failed: ${error.message}`
    return `Start-up failed: ${String(error)}`
  }
  if (Cause.isInterruptedOnly(cause)) return "Interrupted"
  const defect = Cause.squash(cause)
  return `Start-up failed: ${defect instanceof Error ? defect.message : String(defect)}`
}

/**
 * Runs a program; on failure writes `describeFailure` to standard error and
 * exits with status 1.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <A, E>(program: Effect.Effect<A, E>): void => {
  Effect.runFork(program).addObserver((exit) => {
    if (Exit.isFailure(exit)) {
      process.stderr.write(`${describeFailure(exit.cause)}\n`)
      process.exitCode = 1
    }
  })
}
