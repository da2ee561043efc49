import { assert, describe, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as AdequacyDecisions from "../src/AdequacyDecisions.js"
import * as Country from "../src/Country.js"
import * as TransferMechanism from "../src/TransferMechanism.js"

const decode = Schema.decodeUnknownSync(TransferMechanism.TransferMechanism)
const at = new Date("2026-03-01T10:00:00Z")
const verdict = (country: string, mechanism: unknown, when = at, decisions = AdequacyDecisions.shipped) =>
  TransferMechanism.evaluate(Country.Country.make(country), mechanism === undefined ? undefined : decode(mechanism), when, decisions)
const reason = (v: TransferMechanism.Verdict) => (v._tag === "Invalid" ? v.reason : v._tag)

const dpf = (status: string, recertificationDue: string) => ({
  _tag: "DpfCertification",
  status,
  certifiedOn: "2025-04-01",
  recertificationDue
})
const scc = (module: number) => ({ _tag: "StandardContractualClauses", module, signedOn: "2025-09-01", transferImpactAssessment: "TIA-7" })

describe("TransferMechanism", () => {
  it("a location in the EEA is no transfer", () => {
    assert.strictEqual(reason(verdict("DE", undefined)), "NotATransfer")
    assert.strictEqual(reason(verdict("NO", { _tag: "PrivacyShield" })), "NotATransfer")
  })

  it("judges each mechanism", () => {
    const cases: ReadonlyArray<readonly [string, unknown, string]> = [
      ["US", undefined, "mechanism-missing"],
      ["US", { _tag: "PrivacyShield", certifiedOn: "2018-05-25" }, "privacy-shield-invalidated"],
      ["US", { _tag: "Adequacy" }, "adequacy-needs-dpf-certification"],
      ["US", dpf("active", "2026-09-30"), "Valid"],
      ["US", dpf("inactive", "2026-09-30"), "dpf-certification-lapsed"],
      ["CA", dpf("active", "2026-09-30"), "dpf-outside-united-states"],
      ["JP", { _tag: "Adequacy" }, "Valid"],
      ["CN", { _tag: "Adequacy" }, "no-adequacy-decision"],
      ["IN", scc(2), "Valid"],
      ["IN", scc(3), "Valid"],
      ["IN", scc(1), "scc-module-not-for-processors"],
      ["IN", scc(4), "scc-module-not-for-processors"],
      ["SG", { _tag: "BindingCorporateRules", approvedBy: "CNIL", reference: "BCR-1", approvedOn: "2022-02-02" }, "Valid"],
      ["BR", { _tag: "Derogation", ground: "explicit-consent", justification: "single transfer on request" }, "derogation-not-for-processors"]
    ]
    for (const [country, mechanism, expected] of cases) {
      assert.strictEqual(reason(verdict(country, mechanism)), expected, `${country} ${JSON.stringify(mechanism)}`)
    }
  })

  it("a DPF certification lapses the day after its recertification date, and needs the DPF decision in force", () => {
    const certification = dpf("active", "2026-03-01")
    assert.strictEqual(reason(verdict("US", certification, new Date("2026-03-01T23:59:59Z"))), "Valid")
    assert.strictEqual(reason(verdict("US", certification, new Date("2026-03-02T00:00:00Z"))), "dpf-certification-lapsed")
    assert.strictEqual(reason(verdict("US", dpf("active", "2024-01-01"), new Date("2023-06-30T00:00:00Z"))), "dpf-decision-not-in-force")
  })

  it("the 2021 SCCs count from 27 June 2021, when Implementing Decision (EU) 2021/914 entered into force", () => {
    const signed = (signedOn: string) => ({ ...scc(2), signedOn })
    for (const day of ["2010-02-05", "2021-06-03", "2021-06-04", "2021-06-26"]) {
      assert.strictEqual(reason(verdict("IN", signed(day))), "scc-before-2021-914", day)
    }
    assert.strictEqual(reason(verdict("IN", signed("2021-06-27"))), "Valid")
    assert.strictEqual(TransferMechanism.sccDecisionInForceOn.toISOString(), "2021-06-27T00:00:00.000Z")
    const before = verdict("IN", signed("2021-06-26"))
    const detail = before._tag === "Invalid" ? before.detail : ""
    for (const part of ["27 June 2021", "26 September 2021", "27 December 2022"]) assert.include(detail, part)
  })

  it("clauses of the earlier SCC decisions (2001/497/EC, 2004/915/EC, 2010/87/EU) are no valid mechanism, at no date", () => {
    // Only the 2021 SCCs can be recorded: the earlier clauses have no module and no field names their decision.
    assert.throws(() => decode({ _tag: "StandardContractualClauses", signedOn: "2019-05-01", transferImpactAssessment: "TIA-1" }))
    assert.throws(() =>
      Schema.decodeUnknownSync(TransferMechanism.TransferMechanism, { onExcessProperty: "error" })({ ...scc(2), decision: "2010/87/EU" })
    )
    // Clauses dated as only the earlier ones could be are flagged, before and after 27 December 2022.
    const old = { ...scc(2), signedOn: "2019-05-01" }
    for (const when of ["2022-06-01", "2022-12-27", "2026-03-01"]) {
      assert.strictEqual(reason(verdict("IN", old, new Date(`${when}T12:00:00Z`))), "scc-before-2021-914", when)
    }
  })

  it("a DPF certification holds from 10 July 2023, when Implementing Decision (EU) 2023/1795 was adopted, and only while active", () => {
    const certified = { _tag: "DpfCertification", status: "active", certifiedOn: "2023-07-10", recertificationDue: "2024-07-09" }
    assert.strictEqual(reason(verdict("US", certified, new Date("2023-07-09T23:59:59Z"))), "dpf-decision-not-in-force")
    assert.strictEqual(reason(verdict("US", certified, new Date("2023-07-10T00:00:00Z"))), "Valid")
    assert.strictEqual(reason(verdict("US", { ...certified, status: "inactive" }, new Date("2023-07-10T00:00:00Z"))), "dpf-certification-lapsed")
    // Adequacy alone does not cover a US recipient; the Privacy Shield does not hold since Schrems II.
    assert.strictEqual(reason(verdict("US", { _tag: "Adequacy" }, new Date("2023-07-10T00:00:00Z"))), "adequacy-needs-dpf-certification")
    for (const when of ["2020-07-16", "2023-07-10", "2026-03-01"]) {
      assert.strictEqual(reason(verdict("US", { _tag: "PrivacyShield", certifiedOn: "2017-01-01" }, new Date(`${when}T12:00:00Z`))), "privacy-shield-invalidated", when)
    }
  })

  it("the SCC module fits the capacity in which the data is transferred: 2 as controller, 3 as processor", () => {
    const judged = (module: number, exporter: TransferMechanism.Exporter) =>
      reason(TransferMechanism.evaluate(Country.Country.make("IN"), decode(scc(module)), at, AdequacyDecisions.shipped, exporter))
    assert.strictEqual(judged(2, "controller"), "Valid")
    assert.strictEqual(judged(3, "controller"), "scc-module-mismatch")
    assert.strictEqual(judged(3, "processor"), "Valid")
    assert.strictEqual(judged(2, "processor"), "scc-module-mismatch")
    assert.strictEqual(judged(1, "controller"), "scc-module-not-for-processors")
    assert.strictEqual(judged(4, "processor"), "scc-module-not-for-processors")
    const wrong = TransferMechanism.evaluate(Country.Country.make("IN"), decode(scc(2)), at, AdequacyDecisions.shipped, "processor")
    assert.include(wrong._tag === "Invalid" ? wrong.detail : "", "module 3")
  })

  it("on entry, dates that cannot be true and a mechanism on an EEA location are refused", () => {
    const issues = (country: string, mechanism: unknown) =>
      TransferMechanism.entryIssues(Country.Country.make(country), decode(mechanism), at)
    assert.deepStrictEqual(issues("US", { ...dpf("active", "2027-03-01"), certifiedOn: "2026-03-02" }), [
      "mechanism.certifiedOn: the certification date is in the future"
    ])
    assert.deepStrictEqual(issues("US", { ...dpf("active", "2025-03-31"), certifiedOn: "2025-04-01" }), [
      "mechanism.recertificationDue: the recertification date is before the certification date"
    ])
    assert.deepStrictEqual(issues("IN", { ...scc(3), signedOn: "2026-03-02" }), ["mechanism.signedOn: the signature date is in the future"])
    assert.deepStrictEqual(
      issues("SG", { _tag: "BindingCorporateRules", approvedBy: "CNIL", reference: "BCR-1", approvedOn: "2026-03-02" }),
      ["mechanism.approvedOn: the approval date is in the future"]
    )
    assert.deepStrictEqual(issues("US", { _tag: "PrivacyShield", certifiedOn: "2026-03-02" }), [
      "mechanism.certifiedOn: the certification date is in the future"
    ])
    assert.deepStrictEqual(issues("NO", { _tag: "Adequacy" }), [
      "mechanism: NO is in the EEA: a location there is no transfer and takes no transfer mechanism"
    ])
    // Today is not the future; an old SCC date is no input error but an invalid mechanism.
    assert.deepStrictEqual(issues("US", { ...dpf("active", "2027-03-01"), certifiedOn: "2026-03-01" }), [])
    assert.deepStrictEqual(issues("IN", { ...scc(2), signedOn: "2019-01-01" }), [])
    assert.deepStrictEqual(issues("US", { ...dpf("active", "2025-04-01") }), [])
  })

  it("the EEA is the 27 member states of the EU, Iceland, Liechtenstein and Norway", () => {
    assert.strictEqual(new Set(Country.euMemberStates).size, 27)
    for (const code of ["IS", "LI", "NO", "HR", "CY", "MT"]) assert.isTrue(Country.isEea(Country.Country.make(code)), code)
    for (const code of ["GB", "CH", "GI", "GL", "FO", "SJ", "BV", "BL", "TR", "AL"]) {
      assert.isFalse(Country.isEea(Country.Country.make(code)), code)
    }
  })

  it("the adequacy list can be replaced", () => {
    assert.strictEqual(reason(verdict("JP", { _tag: "Adequacy" }, at, [])), "no-adequacy-decision")
  })

  it("refuses malformed mechanisms at the edge", () => {
    assert.throws(() => decode(scc(5)))
    assert.throws(() => decode({ ...scc(2), transferImpactAssessment: " " }))
    assert.throws(() => decode({ _tag: "Derogation", ground: "convenience", justification: "x" }))
    assert.throws(() => decode({ _tag: "SafeHarbour" }))
  })

  it("describes mechanisms for records", () => {
    assert.strictEqual(
      TransferMechanism.describe(decode(scc(3))),
      "Standard contractual clauses 2021/914, module 3, signed 2025-09-01; transfer impact assessment TIA-7"
    )
    assert.strictEqual(TransferMechanism.describe(decode({ _tag: "PrivacyShield" })), "EU-US Privacy Shield (invalid since 16 July 2020)")
    assert.include(TransferMechanism.describe(decode({ _tag: "Derogation", ground: "legal-claims", justification: "court case" })), "Art. 49(1)(e)")
  })
})
