import { assert, describe, it } from "@effect/vitest"
import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as AuditEntry from "../src/AuditEntry.js"
import { event } from "./AuditLogSuite.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

describe("AuditEntry", () => {
  it.effect("decodeLeaf accepts exactly the canonical bytes of a leaf", () =>
    Effect.gen(function*() {
      const tenant = yield* TenantId.make
      const entry = AuditEntry.make(tenant, 7, new Date(Date.UTC(2026, 0, 1)), event(7))
      const leaf = Option.getOrThrow(AuditEntry.decodeLeaf(entry.leaf))
      assert.strictEqual(leaf.index, 7)
      assert.strictEqual(leaf.tenant, tenant)
      assert.deepStrictEqual(AuditEntry.encodeLeaf(leaf), entry.leaf)

      const text = decoder.decode(entry.leaf)
      const variants: Array<[string, Uint8Array]> = [
        ["a byte order mark before", Uint8Array.of(0xef, 0xbb, 0xbf, ...entry.leaf)],
        ["a space before", encoder.encode(` ${text}`)],
        ["a newline after", encoder.encode(`${text}\n`)],
        ["the index as 7.0", encoder.encode(text.replace(`"index":7`, `"index":7.0`))],
        ["the index as 7e0", encoder.encode(text.replace(`"index":7`, `"index":7e0`))],
        ["the index twice", encoder.encode(text.replace(`"index":7`, `"index":8,"index":7`))],
        ["an escaped letter", encoder.encode(text.replace(`"action"`, `"\\u0061ction"`))],
        ["an extra member", encoder.encode(text.replace(`"index":7`, `"index":7,"j":1`))]
      ]
      for (const [label, bytes] of variants) {
        assert.isTrue(Option.isNone(AuditEntry.decodeLeaf(bytes)), label)
      }
    }))
})
