import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as AdequacyDecisions from "../src/AdequacyDecisions.js"
import * as DpaAnnex from "../src/DpaAnnex.js"
import * as Finding from "../src/Finding.js"
import { csvDocument } from "../src/internal/csv.js"
import * as ProcessingActivity from "../src/ProcessingActivity.js"
import * as ProcessingRecord from "../src/ProcessingRecord.js"
import * as Processor from "../src/Processor.js"
import * as ProcessorRegistryModule from "../src/ProcessorRegistry.js"
import { ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as RetentionPeriods from "../src/RetentionPeriods.js"
import * as TenantNotifier from "../src/TenantNotifier.js"
import * as AuditRecorder from "./AuditRecorder.js"
import { approvedProcessor, atStart, owner, processorInput, staff, vaultMemory } from "./fixtures.js"

// A strict RFC 4180 reader: quoted fields with doubled quotes, CRLF after every record.
const parseCsv = (text: string): Array<Array<string>> => {
  const rows: Array<Array<string>> = []
  let row: Array<string> = []
  let field = ""
  let quoted = false
  let wasQuoted = false
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!
    if (quoted) {
      if (char !== "\"") field += char
      else if (text[i + 1] === "\"") (field += "\"", i++)
      else quoted = false
    } else if (char === "\"") {
      if (field !== "" || wasQuoted) throw new Error(`a quote inside an unquoted field at ${i}`)
      quoted = wasQuoted = true
    } else if (char === ",") (row.push(field), field = "", wasQuoted = false)
    else if (char === "\r" && text[i + 1] === "\n") {
      row.push(field)
      rows.push(row)
      row = []
      field = ""
      wasQuoted = false
      i++
    } else if (char === "\r" || char === "\n") throw new Error(`a bare line break outside quotes at ${i}`)
    else field += char
  }
  if (quoted || field !== "" || row.length > 0) throw new Error("the last record is not ended by CRLF")
  return rows
}

// What a spreadsheet-safe CSV cell holds: a value a spreadsheet would read as a formula, or one
// that starts with ' itself, gets a leading ' (so dropping one gives the value back).
const asText = (value: string) => (/^[=+\-@\t\r']/.test(value) ? `'${value}` : value)

const at = new Date("2026-02-01T08:30:00Z")

const processor = (legalName: string, overrides: Partial<typeof Processor.ProcessorInput.Encoded> = {}) =>
  new Processor.Processor({
    ...Schema.decodeUnknownSync(Processor.ProcessorInput)(processorInput({ legalName, servesTenants: true, ...overrides })),
    id: Processor.ProcessorId.make("0194f0a0-0000-7000-8000-000000000001"),
    status: { _tag: "Approved", since: at },
    registeredAt: at,
    updatedAt: at,
    revision: 3
  })

const activity = (name: string, purpose: string, processors: ReadonlyArray<Processor.ProcessorId>) =>
  new ProcessingActivity.ProcessingActivity({
    ...Schema.decodeUnknownSync(ProcessingActivity.ActivityInput)({
      id: "delivery",
      name,
      actingAs: "controller",
      purposes: [purpose, "second purpose"],
      legalBasis: "contract",
      subjectCategories: ["customers"],
      dataCategories: ["contact.email"],
      processors,
      otherRecipients: ["tax authorities"]
    }),
    updatedAt: at
  })

const recordOf = (name: string, purpose: string, legalName = "Mailhost GmbH") => {
  const mail = processor(legalName, {
    locations: [{ country: "DE" }, { country: "US", mechanism: { _tag: "PrivacyShield" } }]
  })
  return ProcessingRecord.make({
    owner: Schema.decodeUnknownSync(ProcessingRecord.RecordOwner)(owner),
    activities: [activity(name, purpose, [mail.id])],
    processors: [mail],
    decisions: AdequacyDecisions.shipped,
    retention: (category) => (category === "contact.email" ? "24 months after the last email" : undefined),
    at
  })
}

const printable = fc.string({
  unit: fc.oneof(fc.constantFrom(",", "\"", "\r", "\n", "\r\n", ";", "<", ">", "&", "'", "|", "=", " "), fc.string({ minLength: 1, maxLength: 1 }), fc.constantFrom("é", "中", "😀")),
  minLength: 1,
  maxLength: 30
}).filter((s) => s.trim().length > 0 && s.trim() === s)

describe("ProcessingRecord", () => {
  it("builds entries with recipients, flagged transfers and retention", () => {
    const record = recordOf("Delivery", "sending email")
    const [entry] = record.asController
    assert.deepStrictEqual(entry?.recipients.map((r) => r.kind), ["processor", "other"])
    assert.deepStrictEqual(entry?.transfers.map((t) => [t.country, t.valid, t.mechanism]), [
      ["US", false, "EU-US Privacy Shield (invalid since 16 July 2020)"]
    ])
    assert.deepStrictEqual(entry?.retention, [
      { category: "contact.email", period: "24 months after the last email", source: "policy" }
    ])
    assert.deepStrictEqual(record.asProcessor, [])
  })

  it("JSON encodes the record and decodes back to it", () => {
    const record = recordOf("Delivery", "sending email")
    assert.deepStrictEqual(Schema.decodeUnknownSync(ProcessingRecord.ProcessingRecord)(JSON.parse(ProcessingRecord.toJson(record))), record)
  })

  it("CSV is RFC 4180: every field comes back intact, whatever it holds", () => {
    fc.assert(fc.property(printable, printable, (name, purpose) => {
      const record = recordOf(name, purpose)
      const csv = ProcessingRecord.toCsv(record)
      assert.isTrue(csv.endsWith("\r\n"))
      const rows = parseCsv(csv)
      assert.deepStrictEqual(rows[0], [...ProcessingRecord.csvColumns])
      assert.strictEqual(rows.length, 2)
      const row = rows[1]!
      assert.strictEqual(row.length, ProcessingRecord.csvColumns.length)
      assert.strictEqual(row[1], asText(name))
      assert.strictEqual(row[4], `${asText(purpose)}; second purpose`)
      assert.strictEqual(row[5], "contract")
      assert.include(row[9]!, "[INVALID: the Privacy Shield was invalidated")
      assert.strictEqual(row[10], "contact.email: 24 months after the last email")
    }))
  })

  it("CSV neutralises free-text cells a spreadsheet would read as a formula", () => {
    for (const hostile of ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+2", "-2+3", "@SUM(A1)"]) {
      const rows = parseCsv(ProcessingRecord.toCsv(recordOf(hostile, hostile, hostile)))
      const row = rows[1]!
      assert.strictEqual(row[1], `'${hostile}`, "the activity name")
      assert.strictEqual(row[4], `'${hostile}; second purpose`, "the purposes")
      assert.isTrue(row[8]!.startsWith(`'${hostile} (processor)`), "the recipients")
      for (const cell of row) assert.notMatch(cell, /^[=+\-@\t\r]/)
    }
    // Inputs are trimmed, but the writer also guards cells that open with a tab or a carriage return.
    assert.deepStrictEqual(parseCsv(csvDocument(["a", "b"], [["\tcmd", "\r=1"]]))[1], ["'\tcmd", "'\r=1"])
    // Text that merely contains those characters is left as it is.
    assert.strictEqual(parseCsv(ProcessingRecord.toCsv(recordOf("a=b", "x-y")))[1]![1], "a=b")
  })

  it("HTML escapes every value", () => {
    const hostile = "<script>alert(\"x\")</script>"
    const html = ProcessingRecord.toHtml(recordOf(hostile, "a & b", "Evil \"Corp\" <img src=x onerror=alert(1)>"))
    assert.match(html, /^<!doctype html>/)
    assert.notInclude(html, "<script>")
    assert.notInclude(html, "<img")
    assert.include(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")
    assert.include(html, "a &amp; b")
    assert.include(html, "class=\"invalid\"")
    fc.assert(fc.property(printable, (name) => {
      const out = ProcessingRecord.toHtml(recordOf(name, "purpose"))
      const body = out.slice(out.indexOf("<body>"))
      // Outside the tags the document writes itself, no value opens a tag.
      const tags = body.match(/<[^>]*>/g) ?? []
      for (const tag of tags) assert.match(tag, /^<\/?[a-z0-9]+( (class|scope)="[a-z]+")?>$/, tag)
    }))
  })
})

describe("DpaAnnex", () => {
  const annexOf = (legalName: string) =>
    DpaAnnex.make({
      owner: Schema.decodeUnknownSync(ProcessingRecord.RecordOwner)(owner),
      processors: [
        processor(legalName, {
          locations: [{ country: "DE" }, {
            country: "US",
            mechanism: { _tag: "DpfCertification", status: "active", certifiedOn: "2025-01-01", recertificationDue: "2026-12-31" }
          }]
        })
      ],
      at
    })

  it("lists approved sub-processors with locations and mechanisms, and the measures", () => {
    const markdown = DpaAnnex.toMarkdown(annexOf("Mailhost GmbH"))
    assert.include(markdown, "| Mailhost GmbH | approved | email delivery | delivering email | contact.email |")
    assert.include(markdown, "United States (US): EU-US Data Privacy Framework certification (active")
    assert.include(markdown, "Germany (DE): EEA (no transfer)<br>United States (US)")
    assert.include(markdown, "- **Encryption**: Personal data sealed with AES-256-GCM under a key per subject")
    assert.include(DpaAnnex.toHtml(annexOf("Mailhost GmbH")), "<dt>Access control</dt>")
  })

  it("lists a suspended sub-processor with its status, without the reason; not a terminated one", () => {
    const suspendedSince = new Date("2026-01-20T10:00:00Z")
    const annex = DpaAnnex.make({
      owner: Schema.decodeUnknownSync(ProcessingRecord.RecordOwner)(owner),
      processors: [
        processor("Approved Mail GmbH"),
        new Processor.Processor({
          ...processor("Suspended Mail GmbH"),
          id: Processor.ProcessorId.make("0194f0a0-0000-7000-8000-000000000002"),
          status: { _tag: "Suspended", since: suspendedSince, reason: "Incident reported by Jane Roe" }
        }),
        new Processor.Processor({
          ...processor("Terminated Mail GmbH"),
          id: Processor.ProcessorId.make("0194f0a0-0000-7000-8000-000000000003"),
          status: { _tag: "Terminated", since: at, reason: "Ended", dataDisposition: "deleted" }
        })
      ],
      at
    })
    assert.deepStrictEqual(annex.subProcessors.map((s) => [s.name, s.status, s.statusSince.toISOString()]), [
      ["Approved Mail GmbH", "approved", at.toISOString()],
      ["Suspended Mail GmbH", "suspended", suspendedSince.toISOString()]
    ])
    const markdown = DpaAnnex.toMarkdown(annex)
    assert.include(markdown, "| Sub-processor | Status | Services |")
    assert.include(markdown, "| Approved Mail GmbH | approved | email delivery |")
    assert.include(markdown, "| Suspended Mail GmbH | suspended since 2026-01-20 | email delivery |")
    const html = DpaAnnex.toHtml(annex)
    assert.include(html, "<td>suspended since 2026-01-20</td>")
    for (const text of [markdown, html]) assert.notInclude(text, "Jane Roe")
  })

  it("a wrong SCC module, or SCCs older than Decision 2021/914, is a finding with its reason", () => {
    const scc = (module: 2 | 3, signedOn: string): Partial<typeof Processor.ProcessorInput.Encoded> => ({
      locations: [{ country: "DE" }, {
        country: "IN",
        mechanism: { _tag: "StandardContractualClauses" as const, module, signedOn, transferImpactAssessment: "TIA-1" }
      }]
    })
    // `processor` serves tenants: its transfers need module 3.
    const findings = Finding.compute({
      processors: [
        processor("Wrong Module GmbH", scc(2, "2025-01-01")),
        new Processor.Processor({ ...processor("Old Clauses GmbH", scc(3, "2020-05-01")), id: Processor.ProcessorId.make("0194f0a0-0000-7000-8000-000000000002") }),
        new Processor.Processor({ ...processor("Right GmbH", scc(3, "2025-01-01")), id: Processor.ProcessorId.make("0194f0a0-0000-7000-8000-000000000003") })
      ],
      dpas: [],
      assessments: [],
      decisions: AdequacyDecisions.shipped,
      at
    }).filter((f) => f._tag === "TransferMechanismInvalid")
    assert.deepStrictEqual(findings.map((f) => [f.processorName, f._tag === "TransferMechanismInvalid" && f.reason]), [
      ["Wrong Module GmbH", "scc-module-mismatch"],
      ["Old Clauses GmbH", "scc-before-2021-914"]
    ])
  })

  it("Markdown escapes values: no cell, link, tag or emphasis can be injected", () => {
    const markdown = DpaAnnex.toMarkdown(annexOf("Evil | Corp [x](javascript:alert(1)) <img src=x> *bold*"))
    const row = markdown.split("\n").find((line) => line.startsWith("| Evil"))!
    assert.strictEqual(row.replaceAll("\\|", "").split("|").length, 8, "six cells")
    assert.include(row, "Evil \\| Corp \\[x\\](javascript:alert(1)) &lt;img src=x&gt; \\*bold\\*")
    assert.notInclude(markdown, "<img")
    const html = DpaAnnex.toHtml(annexOf("<b>bold</b>"))
    assert.include(html, "&lt;b&gt;bold&lt;/b&gt;")
  })
})

describe("ProcessorRegistry with retention periods and a failing notifier", () => {
  const failingFor = (name: string) =>
    Layer.succeed(TenantNotifier.TenantNotifier, {
      notify: (tenant, notice) =>
        tenant.endsWith("0001")
          ? Effect.fail(new TenantNotifier.NotificationFailed({ tenantId: tenant, noticeId: notice.id, cause: name }))
          : Effect.void
    })
  const layer = ProcessorRegistryModule.layerMemory.pipe(
    Layer.provideMerge(Layer.mergeAll(AuditRecorder.layer, failingFor("smtp down"), vaultMemory)),
    Layer.provide(RetentionPeriods.layerFromRecord({ "contact.email": "until the account closes, then 30 days" }))
  )

  it.effect("reads retention periods through the optional lookup", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      yield* registry.recordActivity(staff, {
        id: "accounts",
        name: "Customer accounts",
        actingAs: "controller",
        purposes: ["running customer accounts"],
        subjectCategories: ["customers' staff"],
        dataCategories: ["contact.email", "billing.address"],
        processors: [],
        otherRecipients: []
      })
      const record = yield* registry.record(owner)
      assert.deepStrictEqual(record.asController[0]?.retention, [
        { category: "contact.email", period: "until the account closes, then 30 days", source: "policy" },
        { category: "billing.address", period: null, source: "not-set" }
      ])
      assert.include(ProcessingRecord.toCsv(record), "billing.address: not set")
    }).pipe(Effect.provide(layer)))

  it.effect("a notice stands when the notifier cannot reach a tenant, which is reported undelivered", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const serving = yield* approvedProcessor({ servesTenants: true })
      const unreachable = "00000000-0000-7000-8000-000000000001" as never
      const reachable = "0194f0a0-0000-7000-8000-0000000000aa" as never
      const result = yield* registry.announce(staff, { processorId: serving.id, audience: [unreachable, reachable] })
      assert.deepStrictEqual([result.notified, result.undelivered], [[reachable], [unreachable]])
      assert.deepStrictEqual(yield* registry.noticesFor(unreachable), [result.notice])
    }).pipe(Effect.provide(layer)))
})
