/**
 * The consent of a subject on each list, as a projection of its events.
 *
 * Events are applied in the order they were recorded, each to every list it
 * names:
 *
 * | event | on a list | new status |
 * |---|---|---|
 * | `granted` | not awaiting confirmation | `granted` |
 * | `granted` | awaiting confirmation | `pending`, unless already `granted` (unchanged) |
 * | `confirmed` | `pending` | `granted` |
 * | `confirmed` | any other status | unchanged |
 * | `withdrawn` | any | `withdrawn` |
 *
 * An event that changes a list (even to the same status, such as a second
 * grant) sets its `since` and `eventId` to its own; an unchanged list keeps
 * them. A subject may receive marketing on a list when its status there is
 * `granted`.
 *
 * The state at a past time `t` is the state after the last event whose time
 * is at or before `t`, in recording order: the replay of the events recorded
 * up to and including that one. Event times are kept as recorded (a proof
 * shows the time the event was recorded with), but servers' clocks differ,
 * so an event recorded after another may carry an earlier time; the state at
 * `t` then still is a state the projection had, never a mix of the events
 * before and after `t` (it may include an event timed after `t` that was
 * recorded before one timed at or before it, and `since` then names that
 * event's time). So the state at `t` moves forward with `t`, in recording
 * order, and from the time of the subject's last recorded event on it is the
 * current state. The stores keep the current state as a table maintained in
 * the transaction that inserts the events, rebuildable from them.
 *
 * @since 0.1.0
 */
import type { SubjectId } from "@lawful/core/SubjectId"
import * as Schema from "effect/Schema"
import type { ConsentEvent, EventId } from "./ConsentEvent.js"
import type { ListId } from "./ConsentLists.js"

/**
 * The consent of a subject on a list.
 *
 * @since 0.1.0
 * @category models
 */
export const Status = Schema.Literal("pending", "granted", "withdrawn")

/**
 * @since 0.1.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * A subject's consent on one list: its status, since when, and the event that set it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListState {
  readonly list: ListId
  readonly status: Status
  readonly since: Date
  readonly eventId: EventId
}

/**
 * A list state with its subject, as the projection holds it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubjectListState extends ListState {
  readonly subject: SubjectId
}

/**
 * The new status of a list after an event, or `undefined` when the event
 * leaves it unchanged (see the table in the module documentation).
 *
 * @since 0.1.0
 * @category constructors
 */
export const transition = (
  current: Status | undefined,
  event: Pick<ConsentEvent, "kind" | "awaitingConfirmation">,
  list: ListId
): Status | undefined => {
  switch (event.kind) {
    case "granted":
      if (!event.awaitingConfirmation.includes(list)) return "granted"
      return current === "granted" ? undefined : "pending"
    case "confirmed":
      return current === "pending" ? "granted" : undefined
    case "withdrawn":
      return "withdrawn"
  }
}

/**
 * Applies one event to a subject's states (mutated in place).
 *
 * @since 0.1.0
 * @category constructors
 */
export const applyTo = (states: Map<ListId, ListState>, event: ConsentEvent): void => {
  for (const list of event.lists) {
    const next = transition(states.get(list)?.status, event, list)
    if (next !== undefined) states.set(list, { list, status: next, since: event.time, eventId: event.id })
  }
}

/**
 * The states of one subject after its events, given in recording order.
 * With `at`, the states at that time: after the events up to and including
 * the last one whose time is at or before `at` (see the module
 * documentation), none when no event is.
 *
 * @since 0.1.0
 * @category constructors
 */
export const replay = (events: Iterable<ConsentEvent>, at?: Date): ReadonlyArray<ListState> => {
  const all = [...events]
  let end = all.length
  if (at !== undefined) {
    const limit = at.getTime()
    end = 0
    all.forEach((event, i) => {
      if (event.time.getTime() <= limit) end = i + 1
    })
  }
  const states = new Map<ListId, ListState>()
  for (const event of all.slice(0, end)) applyTo(states, event)
  return sortByList([...states.values()])
}

/**
 * States in list order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sortByList = <A extends ListState>(states: ReadonlyArray<A>): Array<A> =>
  [...states].sort((a, b) => (a.list < b.list ? -1 : a.list > b.list ? 1 : 0))

/**
 * Whether a subject in this state may receive marketing on its list.
 *
 * @since 0.1.0
 * @category constructors
 */
export const mayReceiveMarketing = (state: ListState | undefined): boolean => state?.status === "granted"

/**
 * What a run of events does to one list, from each status it may start in
 * (`"none"`: no state yet): the status, time and event it ends in, or
 * `undefined` when the run leaves that start unchanged. Stores apply a batch
 * of events to the current state in one statement with it.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = Record<Status | "none", ListState | undefined>

/**
 * The effect of a run of events (in order) on one list.
 *
 * @since 0.1.0
 * @category constructors
 */
export const effectOf = (list: ListId, events: ReadonlyArray<ConsentEvent>): Outcome => {
  const starts = ["none", "pending", "granted", "withdrawn"] as const
  const result: Outcome = { none: undefined, pending: undefined, granted: undefined, withdrawn: undefined }
  for (const start of starts) {
    let current: ListState | undefined = undefined
    for (const event of events) {
      const status = transition(current?.status ?? (start === "none" ? undefined : start), event, list)
      if (status !== undefined) current = { list, status, since: event.time, eventId: event.id }
    }
    result[start] = current
  }
  return result
}
