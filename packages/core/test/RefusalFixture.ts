import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Tracer from "effect/Tracer"

// What the refusal tests put where an id, a list or a count goes, and must never see quoted.
export const address = "ann.private@example.com"

// Whether a failure quotes `address`, in its rendering or in its error's fields.
export const leaks = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) &&
  (Cause.pretty(exit.cause).includes(address) || JSON.stringify(Cause.squash(exit.cause)).includes(address))

// The tag of the error an effect failed with; "success", or "defect" for any other cause.
export const tagOf = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && Cause.isFailType(exit.cause) ? (exit.cause.error as { _tag?: string })._tag : Exit.isSuccess(exit) ? "success" : "defect"

// An exit for an assertion's message.
export const describeExit = (exit: Exit.Exit<unknown, unknown>) => Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "succeeded"

// The call made inside the Effect: a call that throws instead of returning an Effect shows as a defect.
export const exitOf = <A, E>(call: () => Effect.Effect<A, E>) => Effect.exit(Effect.suspend(call))

// Values an untyped caller may send where an array goes.
export const notArrays: ReadonlyArray<unknown> = [null, undefined, 42, {}, address]

// Values where a tenant's or a subject's id goes that are not one.
export const notIds = (id: string): ReadonlyArray<unknown> => [address, id.toUpperCase(), "", `${id}\0`, null, 42]

export interface RecordedSpan {
  readonly name: string
  readonly attributes: Map<string, unknown>
  exit?: Exit.Exit<unknown, unknown>
}

// A tracer that keeps every span, to check what a trace exporter would see.
export const recordingTracer = (spans: Array<RecordedSpan>) =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const recorded: RecordedSpan = { name, attributes: new Map() }
      spans.push(recorded)
      let status: Tracer.SpanStatus = { _tag: "Started", startTime }
      return {
        _tag: "Span",
        name,
        spanId: `${spans.length}`,
        traceId: "test",
        parent,
        context,
        get status() {
          return status
        },
        attributes: recorded.attributes,
        links,
        sampled: true,
        kind,
        end: (endTime, exit) => {
          status = { _tag: "Ended", startTime, endTime, exit }
          recorded.exit = exit
        },
        attribute: (key, value) => recorded.attributes.set(key, value),
        event: (event, _time, attributes) => recorded.attributes.set(`event:${event}`, attributes),
        addLinks: () => {}
      }
    },
    context: (f) => f()
  })

// What a span shows a trace exporter: its name, attributes and, when it failed, its cause.
export const seenIn = (span: RecordedSpan) =>
  [
    span.name,
    ...[...span.attributes].map(([key, value]) => `${key}=${JSON.stringify(value)}`),
    span.exit && Exit.isFailure(span.exit) ? Cause.pretty(span.exit.cause) : ""
  ].join("\n")
