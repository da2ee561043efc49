import { assert, describe, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as AdequacyDecisions from "../src/AdequacyDecisions.js"
import * as Country from "../src/Country.js"

const at = (iso: string) => new Date(`${iso}T12:00:00Z`)
const decision = (id: string) => AdequacyDecisions.shipped.find((d) => d.id === id)!
const countryOf = (code: string) => Country.Country.make(code)

describe("AdequacyDecisions", () => {
  it("pins known entries: act, adoption date and source", () => {
    const pinned = [
      ["JP", "Commission Implementing Decision (EU) 2019/419", "2019-01-23", "https://eur-lex.europa.eu/eli/dec_impl/2019/419/oj"],
      ["CH", "Commission Decision 2000/518/EC", "2000-07-26", "https://eur-lex.europa.eu/eli/dec/2000/518/oj"],
      ["CA", "Commission Decision 2002/2/EC", "2001-12-20", "https://eur-lex.europa.eu/eli/dec/2002/2/oj"],
      ["KR", "Commission Implementing Decision (EU) 2022/254", "2021-12-17", "https://eur-lex.europa.eu/eli/dec_impl/2022/254/oj"],
      ["US-DPF", "Commission Implementing Decision (EU) 2023/1795", "2023-07-10", "https://eur-lex.europa.eu/eli/dec_impl/2023/1795/oj"],
      ["EPO", "Commission Implementing Decision (EU) 2025/1382", "2025-07-15", "https://eur-lex.europa.eu/eli/dec_impl/2025/1382/oj"],
      ["GB-2021", "Commission Implementing Decision (EU) 2021/1772", "2021-06-28", "https://eur-lex.europa.eu/eli/dec_impl/2021/1772/oj"]
    ] as const
    for (const [id, act, adoptedOn, source] of pinned) {
      const entry = decision(id)
      assert.strictEqual(entry.act, act, id)
      assert.strictEqual(entry.adoptedOn.toISOString().slice(0, 10), adoptedOn, id)
      assert.strictEqual(entry.source, source, id)
    }
    assert.strictEqual(decision("US-DPF").coversOnly, "dpf-certified-organisations")
    assert.deepStrictEqual(decision("EPO").territory, { _tag: "InternationalOrganisation", name: "European Patent Organisation" })
    assert.include(decision("CA").scope, "commercial organisations")
    assert.strictEqual(decision("GB-2025").validUntil?.toISOString().slice(0, 10), "2031-12-27")
  })

  it("covers the Commission's list: fifteen territories and one international organisation", () => {
    const countries = AdequacyDecisions.shipped.flatMap((d) => d.territory._tag === "Country" ? [d.territory.country] : [])
    assert.sameMembers([...new Set(countries)], [
      "AD", "AR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB", "UY", "US"
    ])
    const ids = AdequacyDecisions.shipped.map((d) => d.id)
    assert.strictEqual(new Set(ids).size, ids.length, "ids are unique")
    for (const entry of AdequacyDecisions.shipped) assert.match(entry.source, /^https:\/\//, entry.id)
  })

  it("is data: it encodes to JSON and decodes back", () => {
    const json = JSON.parse(JSON.stringify(Schema.encodeSync(AdequacyDecisions.DecisionList)(AdequacyDecisions.shipped)))
    assert.deepStrictEqual(Schema.decodeUnknownSync(AdequacyDecisions.DecisionList)(json), AdequacyDecisions.shipped)
  })

  it("finds the decision in force at a date, the United Kingdom's across its renewal", () => {
    const uk = countryOf("GB")
    const idAt = (iso: string) => Option.map(AdequacyDecisions.forCountry(AdequacyDecisions.shipped, uk, at(iso)), (d) => d.id)
    assert.deepStrictEqual(idAt("2021-06-27"), Option.none())
    assert.deepStrictEqual(idAt("2023-03-01"), Option.some("GB-2021"))
    assert.deepStrictEqual(idAt("2025-12-27"), Option.some("GB-2021"))
    assert.deepStrictEqual(idAt("2025-12-28"), Option.some("GB-2025"))
    assert.deepStrictEqual(idAt("2031-12-27"), Option.some("GB-2025"))
    assert.deepStrictEqual(idAt("2031-12-28"), Option.none())
    assert.isTrue(Option.isNone(AdequacyDecisions.forCountry(AdequacyDecisions.shipped, countryOf("US"), at("2023-07-09"))))
    assert.isTrue(Option.isNone(AdequacyDecisions.forCountry(AdequacyDecisions.shipped, countryOf("CN"), at("2026-01-01"))))
  })

  it("records the Privacy Shield as invalidated by Schrems II", () => {
    assert.strictEqual(AdequacyDecisions.privacyShield.invalidatedOn.toISOString().slice(0, 10), "2020-07-16")
    assert.include(AdequacyDecisions.privacyShield.judgment, "C-311/18")
  })
})

describe("Country", () => {
  it("knows the 249 ISO codes and the EEA", () => {
    assert.strictEqual(Country.codes.length, 249)
    assert.strictEqual(Country.euMemberStates.length, 27)
    for (const code of ["DE", "FR", "IE", "IS", "LI", "NO", "RE", "AX"]) assert.isTrue(Country.isEea(countryOf(code)), code)
    for (const code of ["GB", "CH", "US", "GL", "FO", "SJ"]) assert.isFalse(Country.isEea(countryOf(code)), code)
    assert.isTrue(Option.isNone(Schema.decodeUnknownOption(Country.Country)("UK")))
    assert.isTrue(Option.isNone(Schema.decodeUnknownOption(Country.Country)("de")))
    assert.strictEqual(Country.nameOf(countryOf("US")), "United States")
  })
})
