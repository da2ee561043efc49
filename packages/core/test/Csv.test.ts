import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Csv from "../src/Csv.js"

// A reference RFC 4180 reader written here, independent of the writer: fields and records back.
const parse = (text: string): Array<Array<string>> => {
  const records: Array<Array<string>> = []
  let fields: Array<string> = []
  let i = 0
  while (i < text.length) {
    let value = ""
    if (text[i] === "\"") {
      i++
      for (;;) {
        if (text[i] === "\"" && text[i + 1] === "\"") {
          value += "\""
          i += 2
        } else if (text[i] === "\"") {
          i++
          break
        } else if (i >= text.length) {
          throw new Error("unterminated quote")
        } else {
          value += text[i++]
        }
      }
    } else {
      while (i < text.length && text[i] !== "," && !(text[i] === "\r" && text[i + 1] === "\n")) {
        if (text[i] === "\"" || text[i] === "\r" || text[i] === "\n") throw new Error(`bare ${JSON.stringify(text[i])}`)
        value += text[i++]
      }
    }
    fields.push(value)
    if (text[i] === ",") {
      i++
    } else if (text[i] === "\r" && text[i + 1] === "\n") {
      i += 2
      records.push(fields)
      fields = []
    } else {
      throw new Error("record not ended by CRLF")
    }
  }
  return records
}

describe("Csv", () => {
  it("writes RFC 4180: quotes only where needed, quotes doubled, CRLF after each record", () => {
    assert.strictEqual(Csv.record(["a", "b c", ""]), "a,b c,\r\n")
    assert.strictEqual(Csv.record(["x,y", "say \"hi\"", "two\nlines", "cr\r"]), "\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\"\r\n")
    assert.strictEqual(Csv.document(["h1", "h2"], [["1", "2"], ["3", "4"]]), "h1,h2\r\n1,2\r\n3,4\r\n")
    assert.strictEqual(Csv.document(["only"], []), "only\r\n")
  })

  it("reads back every document it writes, field for field", () => {
    const cell = fc.string({ unit: fc.constantFrom("a", ",", "\"", "\r", "\n", " ", "=", "'", "é") })
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 5 }).chain((width) =>
        fc.tuple(fc.array(cell, { minLength: width, maxLength: width }), fc.array(fc.array(cell, { minLength: width, maxLength: width }), { maxLength: 6 }))
      ),
      ([header, rows]) => {
        assert.deepStrictEqual(parse(Csv.document(header, rows)), [header, ...rows])
      }
    ), { numRuns: 500 })
  })

  it("never lets a cell open a formula, and dropping one leading quote gives the value back", () => {
    for (const [value, written] of [
      ["=1+1", "'=1+1"],
      ["+33 6", "'+33 6"],
      ["-2", "'-2"],
      ["@SUM(A1)", "'@SUM(A1)"],
      ["\tx", "'\tx"],
      ["\rx", "'\rx"],
      ["'quoted", "''quoted"],
      ["plain", "plain"],
      ["", ""],
      ["a=b", "a=b"]
    ] as const) {
      assert.strictEqual(Csv.spreadsheetText(value), written, JSON.stringify(value))
    }
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom("=", "+", "-", "@", "\t", "\r", "'", "a", "1") }), (value) => {
      const written = Csv.spreadsheetText(value)
      assert.notMatch(written, /^[=+\-@\t\r]/)
      const back = written.startsWith("'") ? written.slice(1) : written
      assert.strictEqual(back, value)
    }), { numRuns: 2000 })
  })
})
