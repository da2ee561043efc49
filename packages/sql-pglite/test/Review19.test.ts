import { assert, describe, it } from "@effect/vitest"
import { PgliteClient } from "@lawful/sql-pglite"

describe("PgliteClient.localDirectory", () => {
  it("names the directory a dataDir stores into, or none for a scheme other than file://", () => {
    assert.strictEqual(PgliteClient.localDirectory("file:///var/lib/lawful"), "/var/lib/lawful")
    assert.strictEqual(PgliteClient.localDirectory("./.lawful"), "./.lawful")
    assert.strictEqual(PgliteClient.localDirectory("/srv/data dir"), "/srv/data dir")
    assert.strictEqual(PgliteClient.localDirectory("C:\\data"), "C:\\data")
    assert.strictEqual(PgliteClient.localDirectory("memory://"), undefined)
    assert.strictEqual(PgliteClient.localDirectory("idb://lawful"), undefined)
  })
})
