// Review 17d: `ProcessorStatus` lives next to `statusOf` in Processor (ProcessingRecord re-exports
// it), and only a terminated processor whose data is still pending is a `DataHolder`, so
// `statusOf` cannot be asked about one whose data was returned or deleted.
import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as ProcessingRecord from "../src/ProcessingRecord.js"
import * as Processor from "../src/Processor.js"
import { processorInput, start } from "./fixtures.js"

const at = new Date(start)

type Disposed = Processor.Processor & {
  readonly status: Extract<Processor.Status, { readonly _tag: "Terminated" }> & {
    readonly dataDisposition: "returned" | "deleted" | "none-held"
  }
}

const processorWith = (status: Processor.Status) =>
  new Processor.Processor({
    id: Processor.ProcessorId.make("0190a000-0000-7000-8000-000000000001"),
    ...Schema.decodeUnknownSync(Processor.ProcessorInput)(processorInput()),
    status,
    registeredAt: at,
    updatedAt: at,
    revision: 1
  })

const terminated = (dataDisposition: Processor.DataDisposition) =>
  processorWith({ _tag: "Terminated", since: at, reason: "contract ended", dataDisposition })

describe("Review 17d", () => {
  it("ProcessingRecord.ProcessorStatus is Processor.ProcessorStatus", () => {
    assert.strictEqual(ProcessingRecord.ProcessorStatus, Processor.ProcessorStatus)
    const status: ProcessingRecord.ProcessorStatus = "terminated-data-pending"
    assert.isTrue(Schema.is(Processor.ProcessorStatus)(status))
  })

  it("a terminated processor holds data only while its disposition is pending", () => {
    const pending = terminated("pending")
    assert.isTrue(Processor.holdsData(pending))
    if (Processor.holdsData(pending)) assert.strictEqual(Processor.statusOf(pending), "terminated-data-pending")
    for (const disposition of ["returned", "deleted", "none-held"] as const) {
      const done = terminated(disposition)
      assert.isFalse(Processor.holdsData(done), disposition)
      // @ts-expect-error a processor whose data was returned or deleted is no DataHolder
      const holder: Processor.DataHolder = done as Disposed
      assert.strictEqual(holder.status._tag, "Terminated")
    }
    const approved = processorWith({ _tag: "Approved", since: at })
    assert.isTrue(Processor.holdsData(approved))
    if (Processor.holdsData(approved)) assert.strictEqual(Processor.statusOf(approved), "approved")
  })
})
