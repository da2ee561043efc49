import { assert, describe, it } from "@effect/vitest"
import * as Csv from "@lawful/core/Csv"
import { SubjectId } from "@lawful/core/SubjectId"
import { TenantId } from "@lawful/core/TenantId"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import * as ConsentEvent from "../src/ConsentEvent.js"
import { ListId } from "../src/ConsentLists.js"
import * as ConsentNotice from "../src/ConsentNotice.js"
import * as ConsentState from "../src/ConsentState.js"

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex")

const event = (fields: Partial<ConstructorParameters<typeof ConsentEvent.ConsentEvent>[0]> = {}) =>
  new ConsentEvent.ConsentEvent({
    id: ConsentEvent.EventId.make("0190a5d0-0000-7000-8000-000000000001"),
    tenant: TenantId.make("0190a5d0-0000-7000-8000-0000000000aa"),
    subject: SubjectId.make("0190a5d0-0000-7000-8000-0000000000bb"),
    kind: "granted",
    time: new Date("2026-11-29T10:00:00.123Z"),
    lists: [ListId.make("news"), ListId.make("offers")],
    awaitingConfirmation: [ListId.make("offers")],
    lawfulBasis: "consent",
    source: { type: "form", formId: "signup", formVersion: 3 },
    notice: { text: sha256("t"), labels: sha256("l"), privacyPolicy: sha256("p") },
    language: "en",
    confirms: [],
    ...fields
  })

describe("ConsentEvent canonical bytes", () => {
  it("are the RFC 8785 form of the documented members, optional ones omitted", () => {
    const text = new TextDecoder().decode(ConsentEvent.canonicalBytes(event()))
    assert.strictEqual(
      text,
      `{"awaitingConfirmation":["offers"],"id":"0190a5d0-0000-7000-8000-000000000001","kind":"granted","language":"en",` +
        `"lawfulBasis":"consent","lists":["news","offers"],"notice":{"labels":"${sha256("l")}","privacyPolicy":"${
          sha256("p")
        }","text":"${sha256("t")}"},"source":{"formId":"signup","formVersion":3,"type":"form"},` +
        `"subject":"0190a5d0-0000-7000-8000-0000000000bb","tenant":"0190a5d0-0000-7000-8000-0000000000aa",` +
        `"time":"2026-11-29T10:00:00.123Z","v":1}`
    )
    const withdrawn = event({ kind: "withdrawn", awaitingConfirmation: [], reason: "unsubscribe", notice: undefined, language: undefined })
    assert.notInclude(new TextDecoder().decode(ConsentEvent.canonicalBytes(withdrawn)), "awaitingConfirmation")
  })

  it("decode back to the same event, and only from their canonical form", () => {
    const original = event({ ip: sha256("ip"), userAgent: sha256("ua"), collectedAt: new Date("2025-01-01T00:00:00.000Z") })
    const bytes = ConsentEvent.canonicalBytes(original)
    const decoded = Option.getOrThrow(ConsentEvent.fromCanonicalBytes(bytes))
    assert.deepStrictEqual(ConsentEvent.canonicalBytes(decoded), bytes)
    assert.deepStrictEqual(ConsentEvent.fromStoredBytes(bytes), decoded)
    const text = new TextDecoder().decode(bytes)
    const variants = [
      ` ${text}`,
      text.replace(`"v":1`, `"v":2`),
      text.replace(`{"awaitingConfirmation"`, `{"extra":1,"awaitingConfirmation"`),
      JSON.stringify(JSON.parse(text), null, 1),
      text.replace(".123Z", ".1230Z"),
      text.replace(`"lists":["news","offers"]`, `"lists":["offers","news"]`),
      text.replace(`"lists":["news","offers"]`, `"lists":["news","news","offers"]`),
      text.replace(`"awaitingConfirmation":["offers"]`, `"awaitingConfirmation":["other"]`),
      text.replace(`,"source":`, `,"reason":"other","source":`)
    ]
    for (const variant of variants) {
      assert.isTrue(Option.isNone(ConsentEvent.fromCanonicalBytes(new TextEncoder().encode(variant))), variant)
    }
  })

  it("commit to sealed fields with a salt that the sealed plaintext carries", () => {
    const { commitment, plaintext } = ConsentEvent.commit("ip", "203.0.113.7")
    const split = Option.getOrThrow(ConsentEvent.splitOpened(plaintext))
    assert.strictEqual(split.value, "203.0.113.7")
    assert.strictEqual(split.salt.length, 16)
    assert.strictEqual(
      commitment,
      createHash("sha256").update("lawful/consent/v1/ip\0").update(split.salt).update("203.0.113.7").digest("hex")
    )
    assert.notStrictEqual(ConsentEvent.commitment("userAgent", split.salt, "203.0.113.7"), commitment)
    assert.notStrictEqual(ConsentEvent.commit("ip", "203.0.113.7").commitment, commitment)
  })
})

describe("ConsentNotice", () => {
  it("hashes the exact text, the labels as an RFC 8785 array, and the policy link", () => {
    const hashes = ConsentNotice.hash({ text: "Hello", labels: ["A", "B \"b\""], privacyPolicyUrl: "https://x.example/p" })
    assert.deepStrictEqual(hashes, {
      text: sha256("Hello"),
      labels: sha256(`["A","B \\"b\\""]`),
      privacyPolicy: sha256("https://x.example/p")
    })
    assert.isTrue(ConsentNotice.matches({ text: "Hello", labels: ["A", "B \"b\""], privacyPolicyUrl: "https://x.example/p" }, hashes))
    assert.isFalse(ConsentNotice.matches({ text: "Hello ", labels: ["A", "B \"b\""], privacyPolicyUrl: "https://x.example/p" }, hashes))
  })
})

const list = ListId.make("offers")

describe("ConsentState", () => {
  it("follows the documented transition table", () => {
    const granted = { kind: "granted" as const, awaitingConfirmation: [] }
    const pending = { kind: "granted" as const, awaitingConfirmation: [list] }
    const confirmed = { kind: "confirmed" as const, awaitingConfirmation: [] }
    const withdrawn = { kind: "withdrawn" as const, awaitingConfirmation: [] }
    type Step = Parameters<typeof ConsentState.transition>[1]
    const table: ReadonlyArray<readonly [ConsentState.Status | undefined, Step, ConsentState.Status | undefined]> = [
      [undefined, granted, "granted"],
      ["withdrawn", granted, "granted"],
      [undefined, pending, "pending"],
      ["granted", pending, undefined],
      ["withdrawn", pending, "pending"],
      ["pending", confirmed, "granted"],
      [undefined, confirmed, undefined],
      ["granted", confirmed, undefined],
      ["withdrawn", confirmed, undefined],
      ["granted", withdrawn, "withdrawn"],
      [undefined, withdrawn, "withdrawn"]
    ]
    for (const [from, e, to] of table) assert.strictEqual(ConsentState.transition(from, e, list), to, `${from} ${e.kind}`)
  })

  it("the combined effect of a run of events equals applying them one by one, from any state", () => {
    const kinds = fc.constantFrom("grant", "grant-pending", "confirm", "withdraw")
    fc.assert(
      fc.property(fc.constantFrom(undefined, "pending", "granted", "withdrawn"), fc.array(kinds, { maxLength: 8 }), (start, run) => {
        const events = run.map((kind, i) =>
          event({
            id: ConsentEvent.EventId.make(`0190a5d0-0000-7000-8000-${String(i).padStart(12, "0")}`),
            time: new Date(1000 + i),
            kind: kind === "confirm" ? "confirmed" : kind === "withdraw" ? "withdrawn" : "granted",
            lists: [list],
            awaitingConfirmation: kind === "grant-pending" ? [list] : []
          })
        )
        const states = new Map<ListId, ConsentState.ListState>()
        if (start !== undefined) {
          states.set(list, { list, status: start as ConsentState.Status, since: new Date(0), eventId: events[0]?.id ?? ConsentEvent.EventId.make("0190a5d0-0000-7000-8000-0000000000ff") })
        }
        const before = states.get(list)
        for (const e of events) ConsentState.applyTo(states, e)
        const outcome = ConsentState.effectOf(list, events)[start === undefined ? "none" : start as ConsentState.Status]
        assert.deepStrictEqual(outcome ?? before, states.get(list))
      })
    )
  })

  it("replays to a past time", () => {
    const g = event({ time: new Date(1000) })
    const w = event({ id: ConsentEvent.EventId.make("0190a5d0-0000-7000-8000-000000000002"), kind: "withdrawn", time: new Date(2000), lists: [ListId.make("news")], awaitingConfirmation: [] })
    assert.deepStrictEqual(ConsentState.replay([g, w], new Date(999)), [])
    assert.deepStrictEqual(ConsentState.replay([g, w], new Date(1500)).map((s) => [s.list, s.status]), [["news", "granted"], ["offers", "pending"]])
    assert.deepStrictEqual(ConsentState.replay([g, w]).map((s) => [s.list, s.status]), [["news", "withdrawn"], ["offers", "pending"]])
  })
})

describe("CSV fields", () => {
  it("quote commas, quotes, CR and LF as RFC 4180 says, and end records with CRLF", () => {
    const { field: csvField, record: csvRecord } = Csv
    assert.strictEqual(csvField("plain"), "plain")
    assert.strictEqual(csvField("a,b"), `"a,b"`)
    assert.strictEqual(csvField(`say "hi"`), `"say ""hi"""`)
    assert.strictEqual(csvField("line\nbreak"), `"line\nbreak"`)
    assert.strictEqual(csvField("cr\rhere"), `"cr\rhere"`)
    assert.strictEqual(csvRecord(["a", "b,c", ""]), `a,"b,c",\r\n`)
  })
})
