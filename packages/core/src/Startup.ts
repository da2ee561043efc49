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

// Effect's own wording for a value that is absent ("Expected X to exist in the process context",
// or "<redacted>" from a redacting provider) adds nothing to the variable's name.
const providerWording = /^(?:Expected \S+ to exist in the |<redacted>$)/

// The name as a word: `LAWFUL_MASTER_KEY_PREVIOUS` does not name `LAWFUL_MASTER_KEY`.
const names = (message: string, name: string): boolean =>
  new RegExp(`(?<!\\w)${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?!\\w)`).test(message)

// A problem names its variable once: a message that names it already (a setting's own, such as
// "LAWFUL_AUDIT_SIGNING_KEY is not set: it must be ...") is kept whole, any other follows the
// name. A missing value has no value to leak; a setting's check says the form it expects.
const located = (path: ReadonlyArray<string>, message: string, missing: boolean): string => {
  if (path.length === 0) return message
  const name = path.join(".")
  if (missing && (message.trim() === "" || providerWording.test(message))) return `${name} is not set`
  if (names(message, name)) return message
  return missing ? `${name} is not set: ${message}` : `${name}: ${message}`
}

const configProblems = (error: ConfigError.ConfigError): ReadonlyArray<string> => {
  switch (error._op) {
    case "And":
    case "Or":
      return [...configProblems(error.left), ...configProblems(error.right)]
    case "MissingData":
      return [located(error.path, error.message, true)]
    case "InvalidData":
    case "SourceUnavailable":
    case "Unsupported":
      return [located(error.path, error.message, false)]
  }
}

/**
 * The one line that describes why start-up failed. A configuration problem names the variable
 * and, when its setting says it, the form it expects: a setting's own message is kept (once, when
 * it names the variable itself), Effect's wording for an absent value becomes `<VAR> is not set`.
 * Another failure is its error's message, after `Start-up failed: `.
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
