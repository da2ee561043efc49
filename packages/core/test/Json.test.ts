import { assert, describe, it } from "@effect/vitest"
import * as Json from "../src/Json.js"

describe("Json.strictness", () => {
  it("takes strict text: members once per object, plain decimal integers", () => {
    for (const text of ['{"a":1,"b":[0,12,{"a":2}],"c":"1e3 \\" \\\\ ,{"}', "[]", '"x"', "0", '{"a":{"a":{"a":null}}}']) {
      assert.isUndefined(Json.strictness(text), text)
    }
  })

  it("refuses a member given twice, in any object, without naming it", () => {
    for (const text of ['{"email":1,"email":2}', '[{"a":1},{"b":1,"b":1}]', '{"a":{"x":1},"b":{"x":1,"x":1}}', '{"a\\u0062":1,"ab":2}']) {
      assert.strictEqual(Json.strictness(text), "an object names a member twice", text)
    }
  })

  it("refuses numbers readers may read otherwise, without echoing them", () => {
    for (const text of ["1.0", "1e3", "-0", "-1", "01", '{"a":[2.5]}', "12345678901234567890"]) {
      assert.strictEqual(Json.strictness(text), "a number is not a plain decimal integer", text)
    }
  })
})
