import { assert } from "@effect/vitest"
import type { Vitest } from "@effect/vitest"
import type { AuditTrail } from "@lawful/audit-trail/AuditTrail"
import * as TenantId from "@lawful/core/TenantId"
import type { Backend } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { createHash } from "node:crypto"
import * as DpaAnnex from "../src/DpaAnnex.js"
import type * as Finding from "../src/Finding.js"
import * as Processor from "../src/Processor.js"
import * as ProcessingRecord from "../src/ProcessingRecord.js"
import { platformTenant, ProcessorRegistry } from "../src/ProcessorRegistry.js"
import * as ProcessorRegistryModule from "../src/ProcessorRegistry.js"
import { Outbox, type TenantNotifier } from "../src/TenantNotifier.js"
import { AuditRecorder } from "./AuditRecorder.js"
import {
  actionsAbout,
  approvedProcessor,
  approveFully,
  atStart,
  dayOf,
  dpaInput,
  failingAnswers,
  owner,
  passingAnswers,
  processorInput,
  publishQuestionnaire,
  questionnaireInput,
  staff,
  tenantKey,
  uniqueId
} from "./fixtures.js"

export type Services = ProcessorRegistry | AuditTrail | AuditRecorder | TenantNotifier | Outbox | Vault.Vault

const findingsOf = (id: Processor.ProcessorId) =>
  Effect.map(
    Effect.flatMap(ProcessorRegistry, (registry) => registry.findings),
    (findings) => findings.filter((finding) => finding.processorId === id)
  )

const tags = (items: ReadonlyArray<{ readonly _tag: string }>) => items.map((item) => item._tag)

const usWithDpf = (recertificationDue: string, status: "active" | "inactive" = "active") => ({
  country: "US",
  description: "support",
  mechanism: { _tag: "DpfCertification" as const, status, certifiedOn: dayOf(-200), recertificationDue }
})

export const suite = (it: Vitest.MethodsNonLive<Services>, _backend: Backend) => {
  it.effect("registers a candidate, and appends the change to the platform's log", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput({ legalName: "Candidate Ltd" }))
      assert.strictEqual(processor.status._tag, "Candidate")
      assert.strictEqual(processor.revision, 1)
      assert.strictEqual(processor.registeredAt.getTime(), Date.UTC(2026, 0, 15, 9))
      assert.deepStrictEqual(yield* registry.processor(processor.id), processor)
      assert.isTrue((yield* registry.processors).some((p) => p.id === processor.id))

      const [entry] = yield* Effect.flatMap(AuditRecorder, (r) => r.about(platformTenant, processor.id))
      assert.strictEqual(entry?.action, "processor-registry.processor.registered")
      assert.deepStrictEqual(entry?.actor, staff)
      assert.deepStrictEqual(entry?.details, { servesTenants: false, countries: ["DE"] })
      // The contact person is personal data, and so is a sole trader's legal name: neither is in the log.
      assert.notInclude(JSON.stringify(entry), "privacy@mailhost.example")
      assert.notInclude(JSON.stringify(entry), "Candidate Ltd")
      const renamed = yield* registry.update(staff, processor.id, processorInput({ legalName: "Jane Roe Consulting" }))
      const updated = (yield* Effect.flatMap(AuditRecorder, (r) => r.about(platformTenant, processor.id)))[1]
      assert.deepStrictEqual(updated?.details, { servesTenants: false, countries: ["DE"], revision: renamed.revision })
    }))

  it.effect("invalid input fails with InvalidInput naming each problem, and writes nothing", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder
      const before = [(yield* registry.processors).length, (yield* recorder.all).length]
      const cases = [
        processorInput({ locations: [{ country: "XX" }] }),
        processorInput({ locations: [{ country: "us" }] }),
        processorInput({ locations: [{ country: "US" }, { country: "US" }] }),
        processorInput({ services: [] as unknown as [string] }),
        processorInput({ legalName: "   " }),
        { ...processorInput(), website: "https://example.com" } as typeof Processor.ProcessorInput.Encoded,
        processorInput({
          locations: [{ country: "US", mechanism: { _tag: "StandardContractualClauses", module: 5 as 2, signedOn: dayOf(0), transferImpactAssessment: "TIA-1" } }]
        }),
        // Text PostgreSQL cannot store, refused here on every store alike.
        processorInput({ legalName: "Acme\u0000 Ltd" }),
        processorInput({ services: ["mail\ud800"] }),
        processorInput({
          locations: [{ country: "US", mechanism: { _tag: "StandardContractualClauses", module: 2, signedOn: dayOf(0), transferImpactAssessment: "TIA\u0000" } }]
        })
      ]
      for (const input of cases) {
        const error = yield* Effect.flip(registry.register(staff, input))
        assert.strictEqual(error._tag, "InvalidInput")
        assert.isAbove(error._tag === "InvalidInput" ? error.issues.length : 0, 0)
      }
      const unknownCountry = yield* Effect.flip(registry.register(staff, cases[0]!))
      assert.include(unknownCountry.message, "locations[0].country: an upper-case ISO 3166-1 alpha-2 country code")
      assert.notInclude(unknownCountry.message, "XX")
      const twice = yield* Effect.flip(registry.register(staff, cases[2]!))
      assert.include(twice.message, "US is listed twice")
      const extra = yield* Effect.flip(registry.register(staff, cases[5]!))
      // The member is named by the caller: refused by the object it is in, with the members allowed.
      assert.include(extra.message, "Invalid processor: has a member that is not allowed (its members are legalName, contact")
      assert.notInclude(extra.message, "website")
      const nul = yield* Effect.flip(registry.register(staff, cases[7]!))
      assert.include(nul.message, "NUL characters or unpaired surrogates")
      assert.deepStrictEqual([(yield* registry.processors).length, (yield* recorder.all).length], before)
    }))

  it.effect("contact details that do not decode are refused without being echoed in the error", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder
      const before = [(yield* registry.processors).length, (yield* recorder.all).length]
      const name = "Jane Roe"
      const cases: ReadonlyArray<readonly [string, typeof Processor.ProcessorInput.Encoded["contact"]]> = [
        ["contact.name", { name: `${name} `.repeat(80), email: "jane.roe@mailhost.example" }],
        ["contact.email", { name, email: "jane.roe@mailhost" }],
        ["contact.email", { name, email: "jane.roe@mailhost.example\u0000" }],
        ["contact.phone", { name, phone: `+49 30 1234 ${name}`.repeat(40) }],
        ["contact.address", { name, address: 42 as unknown as string }],
        ["contact.name", { name: `${name}\ud800` }]
      ]
      for (const [path, contact] of cases) {
        const error = yield* Effect.flip(registry.register(staff, processorInput({ contact })))
        assert.strictEqual(error._tag, "InvalidInput")
        const said = JSON.stringify([error.message, error._tag === "InvalidInput" ? error.issues : []])
        assert.include(said, path)
        for (const secret of ["Jane", "jane.roe", "mailhost", "1234", "42"]) assert.notInclude(said, secret, path)
      }
      assert.deepStrictEqual([(yield* registry.processors).length, (yield* recorder.all).length], before)
    }))

  it.effect("free text that may name people (legal names, parties, reasons, notes, objections) is refused without being echoed in the error", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder
      const tenant = yield* TenantId.make
      const approved = yield* approvedProcessor()
      const serving = yield* registry.register(staff, processorInput({ servesTenants: true }))
      const { notice } = yield* registry.announce(staff, { processorId: serving.id, audience: [tenant] })
      const questionnaire = yield* publishQuestionnaire
      const assessment = yield* registry.submitAssessment(staff, approved.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: 1,
        answers: passingAnswers
      })
      const before = [(yield* registry.processors).length, (yield* recorder.all).length]
      // Each too long by a sentence about a person: the refusal names the field, never the text.
      const about = (length: number) => "Jane Roe complained to us. ".repeat(Math.ceil(length / 27) + 1)
      const cases: ReadonlyArray<readonly [string, Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>]> = [
        ["legalName", registry.register(staff, processorInput({ legalName: about(200) }))],
        ["parties", registry.recordDpa(staff, approved.id, dpaInput({ version: "long-party", parties: ["Lawful Platform Ltd", about(200)] }))],
        ["reason", registry.suspend(staff, approved.id, about(2000))],
        ["reason", registry.terminate(staff, approved.id, { reason: about(2000) })],
        ["notes", registry.decideAssessment(staff, assessment.id, { outcome: "satisfactory", notes: about(5000) })],
        ["reason", registry.object(tenantKey, tenant, notice.id, { reason: about(2000) })],
        ["description", registry.announce(staff, { processorId: serving.id, description: about(2000), audience: [tenant] })]
      ]
      for (const [field, attempt] of cases) {
        const error = yield* Effect.flip(attempt)
        assert.strictEqual(error._tag, "InvalidInput", field)
        const said = JSON.stringify([error.message, "issues" in error ? error.issues : []])
        assert.include(said, field)
        for (const secret of ["Jane", "Roe", "complained"]) assert.notInclude(said, secret, `${field}: ${said.slice(0, 200)}`)
      }
      assert.deepStrictEqual([(yield* registry.processors).length, (yield* recorder.all).length], before)
      assert.strictEqual((yield* registry.processor(approved.id)).status._tag, "Approved")
    }))

  it.effect("approval is refused with every missing requirement named, and nothing changes", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput({
        locations: [{ country: "DE" }, { country: "US", mechanism: { _tag: "PrivacyShield", certifiedOn: "2019-05-01" } }]
      }))
      const early = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.strictEqual(early._tag, "StatusTransitionInvalid")
      yield* registry.startReview(staff, processor.id)

      const refused = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.strictEqual(refused._tag, "ApprovalRefused")
      if (refused._tag !== "ApprovalRefused") return
      assert.deepStrictEqual(tags(refused.missing), ["SignedDpa", "SatisfactoryAssessment", "ValidMechanism"])
      assert.deepStrictEqual(refused.missing[2], {
        _tag: "ValidMechanism",
        country: "US",
        reason: "privacy-shield-invalidated",
        detail: "the Privacy Shield was invalidated on 16 July 2020 (Judgment of the Court of Justice of 16 July 2020, Schrems II, C-311/18)"
      } as typeof refused.missing[2])
      for (const part of ["no signed DPA", "no satisfactory assessment", "no valid mechanism for location US"]) {
        assert.include(refused.message, part)
      }
      assert.deepStrictEqual(tags(yield* registry.requirements(processor.id)), tags(refused.missing))
      assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "UnderReview")
      assert.deepStrictEqual(yield* actionsAbout(processor.id), [
        "processor-registry.processor.registered",
        "processor-registry.processor.review-started"
      ])
    }))

  it.effect("a processor with a signed DPA, a satisfactory assessment and valid mechanisms is approved", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput({
        locations: [
          { country: "IE" },
          usWithDpf(dayOf(200)),
          { country: "JP", mechanism: { _tag: "Adequacy" } },
          {
            country: "IN",
            mechanism: { _tag: "StandardContractualClauses", module: 2, signedOn: dayOf(-10), transferImpactAssessment: "TIA-2026-004" }
          },
          { country: "BR", mechanism: { _tag: "BindingCorporateRules", approvedBy: "CNIL", reference: "BCR-P-17", approvedOn: "2021-03-01" } }
        ]
      }))
      const approved = yield* approveFully(processor.id)
      assert.strictEqual(approved.status._tag, "Approved")
      // Registered, under review, a DPA recorded, approved.
      assert.strictEqual(approved.revision, 4)
      assert.deepStrictEqual(yield* registry.requirements(processor.id), [])
      assert.deepStrictEqual(yield* findingsOf(processor.id), [])
      assert.deepStrictEqual(yield* actionsAbout(processor.id), [
        "processor-registry.processor.registered",
        "processor-registry.processor.review-started",
        "processor-registry.processor.approved"
      ])
      const dpas = yield* registry.dpas(processor.id)
      assert.deepStrictEqual(yield* actionsAbout(dpas[0]!.id), ["processor-registry.dpa.recorded"])
      const [assessment] = yield* registry.assessments(processor.id)
      assert.deepStrictEqual(yield* actionsAbout(assessment!.id), [
        "processor-registry.assessment.submitted",
        "processor-registry.assessment.decided"
      ])
      assert.strictEqual(assessment?.decision?.reviewer, "staff:staff-ada")
      // A day: the date a year after the decision, whatever its time.
      assert.strictEqual(assessment?.decision?.nextReviewDue.toISOString(), "2027-01-15T00:00:00.000Z")
    }))

  it.effect("Privacy Shield is accepted as input and flagged invalid; adequacy for the US needs the DPF", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const shield = yield* registry.register(staff, processorInput({
        locations: [{ country: "US", mechanism: { _tag: "PrivacyShield" } }]
      }))
      const adequacy = yield* registry.register(staff, processorInput({
        locations: [{ country: "US", mechanism: { _tag: "Adequacy" } }, { country: "CN", mechanism: { _tag: "Adequacy" } }]
      }))
      const missing = (yield* registry.requirements(shield.id)).filter((r) => r._tag === "ValidMechanism")
      assert.deepStrictEqual(missing.map((r) => r._tag === "ValidMechanism" && r.reason), ["privacy-shield-invalidated"])
      const reasons = (yield* registry.requirements(adequacy.id)).flatMap((r) => r._tag === "ValidMechanism" ? [[r.country, r.reason]] : [])
      assert.deepStrictEqual(reasons, [["US", "adequacy-needs-dpf-certification"], ["CN", "no-adequacy-decision"]])
    }))

  it.effect("transfer mechanism dates that cannot be true are refused with InvalidInput, on registration and update, writing nothing", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder
      const existing = yield* registry.register(staff, processorInput())
      const before = [(yield* registry.processors).length, (yield* recorder.all).length]
      const cases: ReadonlyArray<readonly [typeof Processor.Location.Encoded, string]> = [
        [
          { country: "US", mechanism: { _tag: "DpfCertification", status: "active", certifiedOn: dayOf(1), recertificationDue: dayOf(300) } },
          "locations[1].mechanism.certifiedOn: the certification date is in the future"
        ],
        [
          { country: "US", mechanism: { _tag: "DpfCertification", status: "active", certifiedOn: dayOf(-10), recertificationDue: dayOf(-11) } },
          "locations[1].mechanism.recertificationDue: the recertification date is before the certification date"
        ],
        [
          { country: "IN", mechanism: { _tag: "StandardContractualClauses", module: 2, signedOn: dayOf(1), transferImpactAssessment: "TIA-1" } },
          "locations[1].mechanism.signedOn: the signature date is in the future"
        ],
        [
          { country: "BR", mechanism: { _tag: "BindingCorporateRules", approvedBy: "CNIL", reference: "BCR-1", approvedOn: dayOf(2) } },
          "locations[1].mechanism.approvedOn: the approval date is in the future"
        ],
        [{ country: "US", mechanism: { _tag: "PrivacyShield", certifiedOn: dayOf(1) } }, "locations[1].mechanism.certifiedOn: the certification date is in the future"]
      ]
      for (const [location, issue] of cases) {
        const input = processorInput({ locations: [{ country: "DE" }, location] })
        for (const error of [yield* Effect.flip(registry.register(staff, input)), yield* Effect.flip(registry.update(staff, existing.id, input))]) {
          assert.strictEqual(error._tag, "InvalidInput", issue)
          assert.deepStrictEqual(error._tag === "InvalidInput" && error.issues, [issue])
        }
      }
      assert.deepStrictEqual([(yield* registry.processors).length, (yield* recorder.all).length], before)
      assert.deepStrictEqual(yield* registry.processor(existing.id), existing)
      // A certification of today is taken.
      const today = yield* registry.register(staff, processorInput({
        locations: [{ country: "US", mechanism: { _tag: "DpfCertification", status: "active", certifiedOn: dayOf(0), recertificationDue: dayOf(365) } }]
      }))
      assert.deepStrictEqual(yield* registry.requirements(today.id).pipe(Effect.map((r) => r.filter((x) => x._tag === "ValidMechanism"))), [])
    }))

  it.effect("SCCs signed before Implementing Decision (EU) 2021/914 entered into force (27 June 2021) are recorded but are no valid mechanism", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const scc = (signedOn: string) => ({
        country: "IN",
        mechanism: { _tag: "StandardContractualClauses" as const, module: 2 as const, signedOn, transferImpactAssessment: "TIA-1" }
      })
      // Adopted on 4 June 2021, in force on 27 June 2021: clauses signed in between are not yet the 2021 SCCs.
      for (const signedOn of ["2021-06-03", "2021-06-04", "2021-06-26"]) {
        const old = yield* registry.register(staff, processorInput({ locations: [{ country: "DE" }, scc(signedOn)] }))
        const reasons = (yield* registry.requirements(old.id)).flatMap((r) => r._tag === "ValidMechanism" ? [[r.country, r.reason]] : [])
        assert.deepStrictEqual(reasons, [["IN", "scc-before-2021-914"]], signedOn)
        const refused = yield* Effect.flip(approveFully(old.id))
        assert.strictEqual(refused._tag, "ApprovalRefused", signedOn)
        assert.include(refused.message, "not the 2021 standard contractual clauses")
      }
      const current = yield* approvedProcessor({ locations: [{ country: "DE" }, scc("2021-06-27")] })
      assert.strictEqual(current.status._tag, "Approved")
      // Nor can an approved processor's clauses be changed to such a date.
      yield* TestClock.adjust("1 day")
      const change = yield* Effect.flip(registry.update(staff, current.id, processorInput({ locations: [{ country: "DE" }, scc("2021-06-26")] })))
      assert.strictEqual(change._tag, "ChangeRefused")
      assert.include(change.message, "no valid mechanism for location IN")
    }))

  it.effect("only the 2021 SCCs can be recorded: clauses naming an earlier SCC decision, or without a module, are refused", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder
      const before = [(yield* registry.processors).length, (yield* recorder.all).length]
      const earlier: ReadonlyArray<Record<string, unknown>> = [
        { _tag: "StandardContractualClauses", module: 2, signedOn: "2019-05-01", transferImpactAssessment: "TIA-1", decision: "2010/87/EU" },
        { _tag: "StandardContractualClauses", signedOn: "2019-05-01", transferImpactAssessment: "TIA-1" },
        { _tag: "StandardContractualClauses", module: "2010/87/EU", signedOn: "2019-05-01", transferImpactAssessment: "TIA-1" }
      ]
      for (const mechanism of earlier) {
        const input = processorInput({ locations: [{ country: "IN", mechanism } as unknown as typeof Processor.Location.Encoded] })
        const error = yield* Effect.flip(registry.register(staff, input))
        assert.strictEqual(error._tag, "InvalidInput", JSON.stringify(mechanism))
      }
      assert.deepStrictEqual([(yield* registry.processors).length, (yield* recorder.all).length], before)
    }))

  it.effect("a transfer mechanism on a location in the EEA is refused with InvalidInput", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder
      const existing = yield* registry.register(staff, processorInput())
      const before = [(yield* registry.processors).length, (yield* recorder.all).length]
      const input = processorInput({
        locations: [
          { country: "DE" },
          { country: "IS", mechanism: { _tag: "StandardContractualClauses", module: 2, signedOn: dayOf(-3), transferImpactAssessment: "TIA-1" } },
          { country: "FR", mechanism: { _tag: "Adequacy" } }
        ]
      })
      for (const error of [yield* Effect.flip(registry.register(staff, input)), yield* Effect.flip(registry.update(staff, existing.id, input))]) {
        assert.strictEqual(error._tag, "InvalidInput")
        assert.deepStrictEqual(error._tag === "InvalidInput" && error.issues, [
          "locations[1].mechanism: IS is in the EEA: a location there is no transfer and takes no transfer mechanism",
          "locations[2].mechanism: FR is in the EEA: a location there is no transfer and takes no transfer mechanism"
        ])
      }
      assert.deepStrictEqual([(yield* registry.processors).length, (yield* recorder.all).length], before)
    }))

  it.effect("the SCC module fits the processor: module 3 for tenants' data and for sub-processors, module 2 for the platform's own data", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const scc = (module: 2 | 3): [typeof Processor.Location.Encoded, typeof Processor.Location.Encoded] => [
        { country: "DE" },
        { country: "IN", mechanism: { _tag: "StandardContractualClauses" as const, module, signedOn: dayOf(-10), transferImpactAssessment: "TIA-1" } }
      ]
      const reasonsOf = (id: Processor.ProcessorId) =>
        Effect.map(registry.requirements(id), (all) => all.flatMap((r) => r._tag === "ValidMechanism" ? [r.reason] : []))
      const own = yield* approvedProcessor({ locations: scc(2) })
      const tenants = yield* approvedProcessor({ servesTenants: true, locations: scc(3) })
      const sub = yield* approvedProcessor({ role: { _tag: "SubProcessor", of: own.id }, locations: scc(3) })
      assert.deepStrictEqual([own.status._tag, tenants.status._tag, sub.status._tag], ["Approved", "Approved", "Approved"])

      const wrongOwn = yield* registry.register(staff, processorInput({ locations: scc(3) }))
      const wrongTenants = yield* registry.register(staff, processorInput({ servesTenants: true, locations: scc(2) }))
      const wrongSub = yield* registry.register(staff, processorInput({ role: { _tag: "SubProcessor", of: own.id }, locations: scc(2) }))
      for (const id of [wrongOwn.id, wrongTenants.id, wrongSub.id]) {
        assert.deepStrictEqual(yield* reasonsOf(id), ["scc-module-mismatch"])
      }
      const refused = yield* Effect.flip(approveFully(wrongTenants.id))
      assert.strictEqual(refused._tag, "ApprovalRefused")
      assert.include(refused.message, "module 3")

      // Starting to serve tenants under module 2 clauses would break the approval.
      const change = yield* Effect.flip(registry.update(staff, own.id, processorInput({ servesTenants: true, locations: scc(2) })))
      assert.strictEqual(change._tag, "ChangeRefused")
      assert.include(change.message, "no valid mechanism for location IN")
    }))

  it.effect("suspension and termination reasons stay in the registry; the audit log gets a digest only the platform's key recomputes", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const vault = yield* Vault.Vault
      const approved = yield* approvedProcessor()
      const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex")
      const suspension = "Jane Roe reported that a support agent exported her mailbox"
      const suspended = yield* registry.suspend(staff, approved.id, suspension)
      assert.strictEqual(suspended.status._tag === "Suspended" && suspended.status.reason, suspension)
      const ending = "Contract ended after John Doe's complaint"
      yield* registry.terminate(staff, approved.id, { reason: ending })
      // The registry keeps the reason.
      const stored = (yield* registry.processor(approved.id)).status
      assert.strictEqual(stored._tag === "Terminated" && stored.reason, ending)
      const entries = yield* Effect.flatMap(AuditRecorder, (r) => r.about(platformTenant, approved.id))
      const detailsOf = (action: string) => entries.find((e) => e.action === `processor-registry.${action}`)?.details
      // HMAC-SHA-256 under the platform's blind-index key (its Vault tenant key), in a domain of its own.
      const keyed = (text: string) => vault.blindIndex(platformTenant, ProcessorRegistryModule.reasonDomain, text)
      assert.deepStrictEqual(detailsOf("processor.suspended"), {
        from: "Approved",
        reason: "stated",
        reasonHmac: yield* keyed(suspension)
      })
      assert.deepStrictEqual(detailsOf("processor.terminated"), {
        from: "Suspended",
        reason: "stated",
        reasonHmac: yield* keyed(ending),
        dataDisposition: "pending"
      })
      // Whoever reads the log cannot test a guess with a plain hash, nor with the Vault's digest of another domain.
      const logged = JSON.stringify(entries)
      const tenant = yield* TenantId.make
      for (const text of [suspension, ending]) {
        assert.notInclude(logged, sha256(text))
        assert.notInclude(logged, yield* vault.blindIndex(platformTenant, "subject.email", text))
        assert.notInclude(logged, yield* vault.blindIndex(tenant, ProcessorRegistryModule.reasonDomain, text))
      }
      for (const secret of ["Jane", "Roe", "John", "Doe", "mailbox"]) assert.notInclude(logged, secret)
      // The platform checks a reason shown to an auditor against the entry.
      const matches = (action: string, text: string) =>
        ProcessorRegistryModule.statedReasonMatches(detailsOf(action) ?? {}, text)
      assert.isTrue(yield* matches("processor.suspended", suspension))
      assert.isTrue(yield* matches("processor.terminated", ending))
      assert.isFalse(yield* matches("processor.suspended", ending))
      assert.isFalse(yield* matches("processor.terminated", `${ending}.`))
      assert.isFalse(yield* matches("processor.approved", suspension), "an entry without a stated reason matches none")
    }))

  it.effect("a suspension or termination reason of up to 2000 characters is kept; a longer one is InvalidInput, never a defect", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const approved = yield* approvedProcessor()
      const long = "The processor missed the agreed breach notification deadline. ".repeat(20).trim()
      assert.isAbove(long.length, 500)
      assert.isAtMost(long.length, 2000)
      const suspended = yield* Effect.exit(registry.suspend(staff, approved.id, long))
      assert.isTrue(Exit.isSuccess(suspended), `suspend: ${Exit.isFailure(suspended) ? Cause.pretty(suspended.cause) : ""}`)
      const stored = (yield* registry.processor(approved.id)).status
      assert.strictEqual(stored._tag === "Suspended" && stored.reason, long)
      const ended = yield* Effect.exit(registry.terminate(staff, approved.id, { reason: long }))
      assert.isTrue(Exit.isSuccess(ended), `terminate: ${Exit.isFailure(ended) ? Cause.pretty(ended.cause) : ""}`)
      const final = (yield* registry.processor(approved.id)).status
      assert.strictEqual(final._tag === "Terminated" && final.reason, long)
      const other = yield* registry.register(staff, processorInput())
      const tooLong = yield* Effect.flip(registry.terminate(staff, other.id, { reason: "x".repeat(2001) }))
      assert.strictEqual(tooLong._tag, "InvalidInput")
    }))

  it.effect("the DPA annex lists suspended sub-processors, marked suspended, as long as they are engaged", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const name = uniqueId("Suspended Mail")
      const suspended = yield* approvedProcessor({ legalName: name, servesTenants: true })
      yield* TestClock.adjust("2 days")
      yield* registry.suspend(staff, suspended.id, "Security incident under investigation")
      const listed = (yield* registry.annex(owner)).subProcessors.find((s) => s.processorId === suspended.id)
      assert.isDefined(listed)
      assert.strictEqual(listed?.status, "suspended")
      assert.strictEqual(listed?.statusSince.toISOString(), "2026-02-16T09:00:00.000Z")
      const markdown = DpaAnnex.toMarkdown(yield* registry.annex(owner))
      assert.include(markdown, `| ${name} | suspended since 2026-02-16 |`)
      // The reason is the registry's: the published annex does not carry it.
      assert.notInclude(markdown, "Security incident")
      // Terminated, it stays while it holds the data, and leaves once the data is deleted.
      yield* registry.terminate(staff, suspended.id, { reason: "Ended" })
      assert.strictEqual(
        (yield* registry.annex(owner)).subProcessors.find((s) => s.processorId === suspended.id)?.status,
        "terminated-data-pending"
      )
      yield* registry.confirmDataDisposition(staff, suspended.id, "deleted")
      assert.isUndefined((yield* registry.annex(owner)).subProcessors.find((s) => s.processorId === suspended.id))
    }))

  it.effect("statuses move only along the allowed transitions; termination is final", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const approved = yield* approvedProcessor()
      assert.strictEqual((yield* Effect.flip(registry.startReview(staff, approved.id)))._tag, "StatusTransitionInvalid")
      // A reason PostgreSQL cannot store is bad input, and nothing moves.
      assert.strictEqual((yield* Effect.flip(registry.suspend(staff, approved.id, "incident\u0000")))._tag, "InvalidInput")
      const suspended = yield* registry.suspend(staff, approved.id, "Security incident under investigation")
      assert.deepStrictEqual(suspended.status, { _tag: "Suspended", since: new Date(start()), reason: "Security incident under investigation" })
      assert.strictEqual((yield* Effect.flip(registry.suspend(staff, approved.id, "again")))._tag, "StatusTransitionInvalid")
      assert.strictEqual((yield* registry.approve(staff, approved.id)).status._tag, "Approved")

      const ended = yield* registry.terminate(staff, approved.id, { reason: "Contract ended" })
      assert.deepStrictEqual(ended.status, {
        _tag: "Terminated",
        since: new Date(start()),
        reason: "Contract ended",
        dataDisposition: "pending"
      })
      const error = yield* Effect.flip(registry.approve(staff, approved.id))
      assert.deepStrictEqual(
        [error._tag, error._tag === "StatusTransitionInvalid" && error.from, error._tag === "StatusTransitionInvalid" && error.to],
        ["StatusTransitionInvalid", "Terminated", "Approved"]
      )
      assert.strictEqual((yield* Effect.flip(registry.update(staff, approved.id, processorInput())))._tag, "ProcessorTerminated")
      assert.strictEqual((yield* Effect.flip(registry.recordDpa(staff, approved.id, dpaInput({ version: "v9" }))))._tag, "ProcessorTerminated")
      assert.strictEqual((yield* Effect.flip(registry.terminate(staff, approved.id, { reason: "twice" })))._tag, "StatusTransitionInvalid")
      assert.deepStrictEqual(tags(yield* findingsOf(approved.id)), ["DataDispositionUnconfirmed"])

      const confirmed = yield* registry.confirmDataDisposition(staff, approved.id, "deleted")
      assert.strictEqual(confirmed.status._tag === "Terminated" && confirmed.status.dataDisposition, "deleted")
      assert.deepStrictEqual(yield* findingsOf(approved.id), [])
      assert.strictEqual((yield* Effect.flip(registry.confirmDataDisposition(staff, approved.id, "returned")))._tag, "DataDispositionNotPending")
      assert.deepStrictEqual((yield* actionsAbout(approved.id)).slice(3), [
        "processor-registry.processor.suspended",
        "processor-registry.processor.reinstated",
        "processor-registry.processor.terminated",
        "processor-registry.processor.data-disposition-confirmed"
      ])

      // A candidate that never held data needs no confirmation.
      const candidate = yield* registry.register(staff, processorInput())
      const rejected = yield* registry.terminate(staff, candidate.id, { reason: "Not pursued" })
      assert.strictEqual(rejected.status._tag === "Terminated" && rejected.status.dataDisposition, "none-held")
      assert.deepStrictEqual(yield* findingsOf(candidate.id), [])
    }))

  it.effect("an unsatisfactory assessment terminates the processor", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const approved = yield* approvedProcessor()
      const questionnaire = yield* publishQuestionnaire
      const assessment = yield* registry.submitAssessment(staff, approved.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: 1,
        answers: failingAnswers
      })
      assert.deepStrictEqual(assessment.score, {
        points: 5,
        maxPoints: 8,
        ratio: 5 / 8,
        criticalFailures: ["encryption-at-rest"],
        passes: false
      })
      const { processor } = yield* registry.decideAssessment(staff, assessment.id, {
        outcome: "unsatisfactory",
        notes: "No encryption at rest"
      })
      assert.strictEqual(processor.status._tag, "Terminated")
      assert.strictEqual(processor.status._tag === "Terminated" && processor.status.dataDisposition, "pending")
      assert.deepStrictEqual(yield* registry.processor(approved.id), processor)
      assert.deepStrictEqual((yield* actionsAbout(approved.id)).at(-1), "processor-registry.processor.terminated")
    }))

  it.effect("a satisfactory decision on failing answers is refused; a decision is given once", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      const questionnaire = yield* publishQuestionnaire
      const assessment = yield* registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: 1,
        answers: failingAnswers
      })
      const refused = yield* Effect.flip(registry.decideAssessment(staff, assessment.id, { outcome: "satisfactory", notes: "fine" }))
      assert.strictEqual(refused._tag, "AssessmentBelowPassMark")
      assert.include(refused.message, "fails critical questions encryption-at-rest")
      assert.isUndefined((yield* registry.assessments(processor.id))[0]?.decision)

      // A reviewer may find passing answers unsatisfactory.
      const passing = yield* registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: 1,
        answers: passingAnswers
      })
      assert.isTrue(passing.score.passes)
      yield* registry.decideAssessment(staff, passing.id, { outcome: "unsatisfactory", notes: "References did not check out" })
      const again = yield* Effect.flip(registry.decideAssessment(staff, passing.id, { outcome: "satisfactory", notes: "x" }))
      assert.strictEqual(again._tag, "AssessmentAlreadyDecided")
      const missing = yield* Effect.flip(registry.decideAssessment(staff, processor.id as never, { outcome: "satisfactory", notes: "x" }))
      assert.strictEqual(missing._tag, "AssessmentNotFound")
      assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "Terminated")
    }))

  it.effect("answers are checked against the questionnaire version; published versions never change", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      const questionnaire = yield* publishQuestionnaire
      const submit = (answers: Record<string, boolean | string>, version = 1) =>
        Effect.flip(registry.submitAssessment(staff, processor.id, {
          questionnaireId: questionnaire.id,
          questionnaireVersion: version,
          answers
        }))
      const wrong = yield* submit({ "encryption-at-rest": "yes", iso27001: true, "breach-notice": "never", extra: true })
      assert.strictEqual(wrong._tag, "InvalidInput")
      assert.deepStrictEqual(wrong._tag === "InvalidInput" && wrong.issues, [
        `1 answer names no question of ${questionnaire.id} version 1 (its questions: encryption-at-rest, iso27001, breach-notice, sub-processors)`,
        "encryption-at-rest needs a yes/no (boolean) answer",
        "breach-notice needs one of: 24h, 72h, later",
        "sub-processors needs a text answer"
      ])
      assert.strictEqual((yield* submit(passingAnswers, 2))._tag, "QuestionnaireNotFound")
      assert.deepStrictEqual(yield* registry.assessments(processor.id), [])

      const republish = yield* Effect.flip(registry.publishQuestionnaire(staff, questionnaireInput(questionnaire.id)))
      assert.strictEqual(republish._tag, "QuestionnaireVersionExists")
      const v2 = yield* registry.publishQuestionnaire(staff, { ...questionnaireInput(questionnaire.id, 2), passMark: 0.9 })
      assert.deepStrictEqual(yield* registry.questionnaire(questionnaire.id), v2)
      assert.deepStrictEqual(yield* registry.questionnaire(questionnaire.id, 1), questionnaire)
      assert.strictEqual((yield* Effect.flip(registry.questionnaire(uniqueId("none"))))._tag, "QuestionnaireNotFound")

      const duplicate = yield* Effect.flip(registry.publishQuestionnaire(staff, {
        ...questionnaireInput(uniqueId("dup")),
        questions: [
          { _tag: "Text", id: "same", text: "One", required: false },
          { _tag: "Text", id: "same", text: "Two", required: false }
        ]
      }))
      assert.include(duplicate.message, "question same appears twice")
    }))

  it.effect("questionnaire versions and points beyond what every store holds are refused alike, writing nothing", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder
      const processor = yield* registry.register(staff, processorInput())
      const questionnaire = yield* publishQuestionnaire
      const before = (yield* recorder.all).length
      const id = uniqueId("huge")
      // PostgreSQL keeps versions as integer: 2^31 would not fit.
      const version = yield* Effect.flip(registry.publishQuestionnaire(staff, questionnaireInput(id, 2 ** 31)))
      assert.strictEqual(version._tag, "InvalidInput")
      assert.include(version.message, "version")
      // Points whose total is no safe integer cannot be scored.
      const weights = yield* Effect.flip(registry.publishQuestionnaire(staff, {
        ...questionnaireInput(id),
        questions: [
          { _tag: "YesNo", id: "a", text: "A?", weight: Number.MAX_SAFE_INTEGER, expected: true },
          { _tag: "Choice", id: "b", text: "B?", options: [{ value: "x", label: "X", points: Number.MAX_SAFE_INTEGER }] }
        ]
      }))
      assert.strictEqual(weights._tag, "InvalidInput")
      assert.include(weights.message, "questions[0].weight")
      assert.include(weights.message, "questions[1].options[0].points")
      const lookup = yield* Effect.flip(registry.questionnaire(questionnaire.id, 2 ** 31))
      assert.strictEqual(lookup._tag, "QuestionnaireNotFound")
      const submitted = yield* Effect.flip(registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: 2 ** 31,
        answers: passingAnswers
      }))
      assert.strictEqual(submitted._tag, "InvalidInput")
      assert.strictEqual((yield* Effect.flip(registry.questionnaire(id)))._tag, "QuestionnaireNotFound")
      assert.strictEqual((yield* recorder.all).length, before)
    }))

  it.effect("dates are real calendar days in ISO 8601: impossible, ambiguous or zone-less dates are refused", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder
      const processor = yield* registry.register(staff, processorInput())
      const before = (yield* recorder.all).length
      // Each of these once became another day, or a day that depends on the server's time zone.
      const refused = ["2025-02-30", "2025-04-31", "1", "2025", "Jan 10 2025", "2025-01-10T00:00:00", "2025-1-10", "-000005-01-01"]
      for (const signedOn of refused) {
        const error = yield* Effect.flip(registry.recordDpa(staff, processor.id, dpaInput({ version: signedOn, signedOn })))
        assert.strictEqual(error._tag, "InvalidInput", signedOn)
        assert.include(error.message, "signedOn", signedOn)
      }
      const certification = yield* Effect.flip(registry.register(staff, processorInput({ locations: [usWithDpf("2026-02-29")] })))
      assert.strictEqual(certification._tag, "InvalidInput")
      const questionnaire = yield* publishQuestionnaire
      const assessment = yield* registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: 1,
        answers: passingAnswers
      })
      const decision = yield* Effect.flip(registry.decideAssessment(staff, assessment.id, {
        outcome: "satisfactory",
        notes: "ok",
        nextReviewDue: "2027-02-29"
      }))
      assert.strictEqual(decision._tag, "InvalidInput")
      assert.deepStrictEqual(yield* registry.dpas(processor.id), [])
      assert.strictEqual((yield* recorder.all).length, before + 2, "only the questionnaire and the submission")
      // A day, or a time with its zone (as the registry writes its own dates), is taken: the day
      // is the date as written, the time and offset are dropped.
      const plain = yield* registry.recordDpa(staff, processor.id, dpaInput({ version: "plain", signedOn: "2025-06-01" }))
      assert.strictEqual(plain.signedOn.toISOString(), "2025-06-01T00:00:00.000Z")
      const zoned = yield* registry.recordDpa(staff, processor.id, dpaInput({ version: "zoned", signedOn: "2025-06-01T22:30:00-04:00" }))
      assert.strictEqual(zoned.signedOn.toISOString(), "2025-06-01T00:00:00.000Z")
      const written = yield* registry.recordDpa(staff, processor.id, dpaInput({ version: "written", signedOn: plain.signedOn.toISOString() }))
      assert.strictEqual(written.signedOn.getTime(), plain.signedOn.getTime())
    }))

  it.effect("a day written with a time whose instant leaves the years 1000 to 9999 is the date as written, alike on every store", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const existing = yield* registry.register(staff, processorInput())
      // Each is a real calendar day as written, though its instant is in year 999 or 10000 (SQL
      // stores once failed on such a date, memory took it): the day is the date written.
      const processor = yield* registry.register(staff, processorInput({
        locations: [
          { country: "DE" },
          { country: "IN", mechanism: { _tag: "StandardContractualClauses", module: 2, signedOn: "1000-01-01T00:30:00+01:00", transferImpactAssessment: "TIA-1" } },
          { country: "US", mechanism: { _tag: "DpfCertification", status: "active", certifiedOn: dayOf(-10), recertificationDue: "9999-12-31T23:00:00-02:00" } }
        ]
      }))
      const [, scc, dpf] = processor.locations
      assert.strictEqual(scc?.mechanism?._tag === "StandardContractualClauses" ? scc.mechanism.signedOn.toISOString() : undefined, "1000-01-01T00:00:00.000Z")
      assert.strictEqual(dpf?.mechanism?._tag === "DpfCertification" ? dpf.mechanism.recertificationDue.toISOString() : undefined, "9999-12-31T00:00:00.000Z")
      assert.deepStrictEqual(yield* registry.processor(processor.id), processor)
      const dpa = yield* registry.recordDpa(staff, existing.id, dpaInput({ signedOn: "1000-01-01T00:30:00+01:00" }))
      assert.strictEqual(dpa.signedOn.toISOString(), "1000-01-01T00:00:00.000Z")
      assert.deepStrictEqual(yield* registry.dpas(existing.id), [dpa])
      // A date outside those years as written is refused.
      for (const signedOn of ["0999-12-31", "0999-12-31T23:30:00-01:00", "10000-01-01"]) {
        const error = yield* Effect.flip(registry.recordDpa(staff, existing.id, dpaInput({ version: signedOn, signedOn })))
        assert.strictEqual(error._tag, "InvalidInput", signedOn)
        assert.include(error.message, "signedOn", signedOn)
      }
      assert.deepStrictEqual(yield* registry.dpas(existing.id), [dpa])
    }))

  it.effect("a next review on a day already past is refused, even at midnight; today is taken", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 0, 16, 0, 0, 0))
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      const questionnaire = yield* publishQuestionnaire
      const submit = registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: 1,
        answers: passingAnswers
      })
      const yesterday = yield* submit
      const error = yield* Effect.flip(
        registry.decideAssessment(staff, yesterday.id, { outcome: "satisfactory", notes: "ok", nextReviewDue: "2026-01-15" })
      )
      assert.strictEqual(error._tag, "InvalidInput")
      assert.include(error.message, "the next review is in the past")
      assert.isUndefined((yield* registry.assessments(processor.id))[0]?.decision)
      const today = yield* submit
      const decided = yield* registry.decideAssessment(staff, today.id, {
        outcome: "satisfactory",
        notes: "ok",
        nextReviewDue: "2026-01-16"
      })
      assert.strictEqual(decided.assessment.decision?.nextReviewDue.toISOString(), "2026-01-16T00:00:00.000Z")
    }))

  it.effect("DPA versions are unique, a future signature is refused, and the latest signed one governs", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      const first = yield* registry.recordDpa(staff, processor.id, dpaInput({ version: "v1", signedOn: dayOf(-400), reviewDue: dayOf(-35) }))
      assert.strictEqual(first.documentSha256.length, 64)
      assert.strictEqual((yield* Effect.flip(registry.recordDpa(staff, processor.id, dpaInput({ version: "v1" }))))._tag, "DpaVersionExists")
      const future = yield* Effect.flip(registry.recordDpa(staff, processor.id, dpaInput({ version: "v2", signedOn: dayOf(3) })))
      assert.include(future.message, "the signature date is in the future")
      const badHash = yield* Effect.flip(registry.recordDpa(staff, processor.id, dpaInput({ version: "v2", documentSha256: "ABC" })))
      assert.include(badHash.message, "64 lower-case hex digits")
      const backwards = yield* Effect.flip(registry.recordDpa(staff, processor.id, dpaInput({ version: "v2", reviewDue: dayOf(-30) })))
      assert.include(backwards.message, "the review date is before the signature date")
      const unknown = yield* Effect.flip(registry.recordDpa(staff, yield* Processor.makeId, dpaInput()))
      assert.strictEqual(unknown._tag, "ProcessorNotFound")
      assert.deepStrictEqual((yield* registry.dpas(processor.id)).map((dpa) => dpa.version), ["v1"])
      yield* registry.recordDpa(staff, processor.id, dpaInput({ version: "v2" }))
      assert.deepStrictEqual((yield* registry.dpas(processor.id)).map((dpa) => dpa.version), ["v1", "v2"])
    }))

  it.effect("a change to an approved processor cannot break its approval", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const approved = yield* approvedProcessor()
      const refused = yield* Effect.flip(registry.update(staff, approved.id, processorInput({
        locations: [{ country: "DE" }, { country: "CN", description: "support staff" }]
      })))
      assert.strictEqual(refused._tag, "ChangeRefused")
      assert.include(refused.message, "no valid mechanism for location CN")
      assert.deepStrictEqual(yield* registry.processor(approved.id), approved)

      const updated = yield* registry.update(staff, approved.id, processorInput({
        locations: [
          { country: "DE" },
          {
            country: "CN",
            description: "support staff",
            mechanism: { _tag: "StandardContractualClauses", module: 2, signedOn: dayOf(-3), transferImpactAssessment: "TIA-CN-1" }
          }
        ]
      }))
      assert.strictEqual(updated.revision, approved.revision + 1)
      assert.strictEqual(updated.status._tag, "Approved")

      const expired = yield* Effect.flip(registry.recordDpa(staff, approved.id, dpaInput({
        version: "2026-expired",
        signedOn: dayOf(-1),
        expiresOn: dayOf(-1)
      })))
      assert.strictEqual(expired._tag, "ChangeRefused")
      assert.strictEqual((yield* registry.dpas(approved.id)).length, 1)

      const cycle = yield* Effect.flip(registry.update(staff, approved.id, processorInput({ role: { _tag: "SubProcessor", of: approved.id } })))
      assert.include(cycle.message, "a processor cannot be its own sub-processor")
    }))

  it.effect("time passing turns expiries and lapses into findings", () =>
    Effect.gen(function*() {
      yield* atStart
      const approved = yield* approvedProcessor(
        { locations: [{ country: "DE" }, usWithDpf(dayOf(30))] },
        { dpa: { reviewDue: dayOf(60), expiresOn: dayOf(90) } }
      )
      assert.deepStrictEqual(yield* findingsOf(approved.id), [])

      yield* TestClock.adjust("30 days")
      assert.deepStrictEqual(yield* findingsOf(approved.id), [], "the recertification day itself is still covered")
      yield* TestClock.adjust("1 day")
      const lapsed = yield* findingsOf(approved.id)
      assert.deepStrictEqual(tags(lapsed), ["DpfCertificationLapsed"])
      assert.deepStrictEqual(lapsed.map((f) => "country" in f && `${f.country}`), ["US"])

      yield* TestClock.adjust("30 days")
      assert.deepStrictEqual(tags(yield* findingsOf(approved.id)), ["ReviewOverdue", "DpfCertificationLapsed"])
      yield* TestClock.adjust("30 days")
      const late = yield* findingsOf(approved.id)
      assert.deepStrictEqual(tags(late), ["DpaExpired", "ReviewOverdue", "DpfCertificationLapsed"])
      assert.strictEqual((late[0] as Finding.DpaExpired).expiredOn.toISOString().slice(0, 10), dayOf(90))

      yield* TestClock.adjust("300 days")
      const year = yield* findingsOf(approved.id)
      assert.deepStrictEqual(
        year.map((f) => f._tag === "ReviewOverdue" ? `ReviewOverdue:${f.of}` : f._tag),
        ["DpaExpired", "ReviewOverdue:dpa", "ReviewOverdue:assessment", "DpfCertificationLapsed"]
      )
      // The processor stays approved: findings report, they do not act.
      const registry = yield* ProcessorRegistry
      assert.strictEqual((yield* registry.processor(approved.id)).status._tag, "Approved")
    }))

  it.effect("change notices reach the tenants, objections are recorded within the period, and approval waits for it", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const outbox = yield* Outbox
      const [a, b, c] = yield* Effect.all([TenantId.make, TenantId.make, TenantId.make])
      const incumbent = yield* approvedProcessor({ legalName: "Old Mail Inc", servesTenants: true })
      yield* atStart
      const processor = yield* registry.register(staff, processorInput({ legalName: "New Mail SA", servesTenants: true }))
      const questionnaire = yield* publishQuestionnaire
      yield* registry.startReview(staff, processor.id)
      yield* registry.recordDpa(staff, processor.id, dpaInput())
      const assessment = yield* registry.submitAssessment(staff, processor.id, {
        questionnaireId: questionnaire.id,
        questionnaireVersion: 1,
        answers: passingAnswers
      })
      yield* registry.decideAssessment(staff, assessment.id, { outcome: "satisfactory", notes: "ok" })
      const unannounced = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.deepStrictEqual(unannounced._tag === "ApprovalRefused" && tags(unannounced.missing), ["ChangeAnnounced"])

      const { notice, notified, undelivered } = yield* registry.announce(staff, {
        processorId: processor.id,
        replaces: incumbent.id,
        audience: [a, b, a]
      })
      assert.strictEqual(notice.kind, "replacement")
      assert.deepStrictEqual(notice.replaces, { processorId: incumbent.id, processorName: "Old Mail Inc" })
      assert.strictEqual(notice.description, "New Mail SA replaces Old Mail Inc for: email delivery")
      assert.strictEqual(notice.objectionDeadline.toISOString(), "2026-02-14T09:00:00.000Z")
      assert.deepStrictEqual([notified, undelivered], [[a, b], []])
      const sent = (yield* outbox.sent).filter((s) => s.notice.id === notice.id)
      assert.deepStrictEqual(sent.map((s) => s.tenant), [a, b])
      assert.deepStrictEqual(yield* registry.noticesFor(a), [notice])
      assert.deepStrictEqual(yield* registry.noticesFor(c), [])
      assert.deepStrictEqual(yield* registry.notices(processor.id), [notice])
      assert.deepStrictEqual(yield* actionsAbout(notice.id), ["processor-registry.notice.published"])
      assert.deepStrictEqual(yield* actionsAbout(notice.id, a), ["processor-registry.notice.received"])

      const open = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.deepStrictEqual(open._tag === "ApprovalRefused" && tags(open.missing), ["ObjectionPeriodEnded"])

      yield* TestClock.adjust("10 days")
      const objection = yield* registry.object(tenantKey, a, notice.id, { reason: "Our customers require EU-only support" })
      assert.strictEqual(objection.objectedAt.toISOString(), "2026-01-25T09:00:00.000Z")
      assert.deepStrictEqual(yield* actionsAbout(notice.id, a), [
        "processor-registry.notice.received",
        "processor-registry.objection.recorded"
      ])
      assert.deepStrictEqual((yield* actionsAbout(notice.id)).at(-1), "processor-registry.objection.recorded")
      assert.strictEqual((yield* Effect.flip(registry.object(tenantKey, a, notice.id, { reason: "again" })))._tag, "ObjectionAlreadyRecorded")
      assert.strictEqual((yield* Effect.flip(registry.object(tenantKey, c, notice.id, { reason: "not mine" })))._tag, "NoticeNotFound")
      assert.strictEqual((yield* Effect.flip(registry.object(tenantKey, b, notice.id, { reason: " " })))._tag, "InvalidInput")

      yield* TestClock.adjust("20 days")
      const closed = yield* Effect.flip(registry.object(tenantKey, b, notice.id, { reason: "too late" }))
      assert.strictEqual(closed._tag, "ObjectionPeriodClosed")
      assert.deepStrictEqual(yield* registry.objections(notice.id), [objection])
      // Not engaged over the objection: the change is announced again once it is resolved.
      const objected = yield* Effect.flip(registry.approve(staff, processor.id))
      assert.deepStrictEqual(objected._tag === "ApprovalRefused" && tags(objected.missing), ["ObjectionUnresolved"])
      yield* registry.announce(staff, { processorId: processor.id, replaces: incumbent.id, audience: [b] })
      yield* TestClock.adjust("30 days")
      assert.strictEqual((yield* registry.approve(staff, processor.id)).status._tag, "Approved")
    }))

  it.effect("only a live processor that serves tenants is announced", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const internal = yield* registry.register(staff, processorInput({ servesTenants: false }))
      const refused = yield* Effect.flip(registry.announce(staff, { processorId: internal.id, audience: [] }))
      assert.include(refused.message, "does not process tenants' data")
      const serving = yield* registry.register(staff, processorInput({ servesTenants: true }))
      const self = yield* Effect.flip(registry.announce(staff, { processorId: serving.id, replaces: serving.id, audience: [] }))
      assert.include(self.message, "a processor cannot replace itself")
      const period = yield* Effect.flip(registry.announce(staff, { processorId: serving.id, objectionPeriodDays: 0, audience: [] }))
      assert.strictEqual(period._tag, "InvalidInput")
      yield* registry.terminate(staff, serving.id, { reason: "dropped" })
      assert.strictEqual((yield* Effect.flip(registry.announce(staff, { processorId: serving.id, audience: [] })))._tag, "ProcessorTerminated")
      assert.deepStrictEqual(yield* registry.notices(serving.id), [])
    }))

  it.effect("the record of processing activities lists recipients, sub-processors, transfers and retention", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const name = uniqueId("Mailhost")
      const mail = yield* approvedProcessor({
        legalName: name,
        servesTenants: true,
        locations: [{ country: "DE" }, usWithDpf(dayOf(400))]
      })
      const cloud = yield* approvedProcessor({
        legalName: `${name} Cloud`,
        role: { _tag: "SubProcessor", of: mail.id },
        locations: [{ country: "IE" }]
      })
      const candidate = yield* registry.register(staff, processorInput({ legalName: `${name} Candidate` }))
      const activityId = uniqueId("newsletter")
      yield* registry.recordActivity(staff, {
        id: activityId,
        name: "Newsletter delivery",
        actingAs: "processor",
        controllers: "each tenant, for its contacts",
        purposes: ["sending the tenants' email"],
        subjectCategories: ["tenants' contacts"],
        dataCategories: ["contact.email", "message.preview"],
        processors: [mail.id, candidate.id],
        otherRecipients: [],
        retention: "as the tenant's retention policy sets"
      })
      const missing = yield* Effect.flip(registry.recordActivity(staff, {
        id: uniqueId("x"),
        name: "x",
        actingAs: "controller",
        purposes: ["x"],
        subjectCategories: ["x"],
        dataCategories: ["x"],
        processors: [yield* Processor.makeId],
        otherRecipients: []
      }))
      assert.strictEqual(missing._tag, "ProcessorNotFound")
      const noControllers = yield* Effect.flip(registry.recordActivity(staff, {
        id: uniqueId("y"),
        name: "y",
        actingAs: "processor",
        purposes: ["y"],
        subjectCategories: ["y"],
        dataCategories: ["y"],
        processors: [],
        otherRecipients: []
      }))
      assert.include(noControllers.message, "an activity as processor names its controllers")

      const record = yield* registry.record(owner)
      const entry = record.asProcessor.find((e) => e.activityId === activityId)!
      assert.deepStrictEqual(entry.recipients, [
        { name, kind: "processor", processorId: mail.id, status: "approved" },
        { name: `${name} Cloud`, kind: "sub-processor", processorId: cloud.id, engagedBy: name, status: "approved" }
      ])
      assert.deepStrictEqual(entry.transfers.map((t) => [t.recipient, t.country, t.valid]), [[name, "US", true]])
      assert.include(entry.transfers[0]!.detail, "Commission Implementing Decision (EU) 2023/1795")
      assert.deepStrictEqual(entry.retention, [
        { category: "contact.email", period: "as the tenant's retention policy sets", source: "stated" },
        { category: "message.preview", period: "as the tenant's retention policy sets", source: "stated" }
      ])
      assert.deepStrictEqual(record.owner.name, "Lawful Platform Ltd")
      assert.strictEqual(record.securityMeasures.length, 2)
      assert.include(ProcessingRecord.toCsv(record), "Newsletter delivery")
      assert.deepStrictEqual(yield* actionsAbout(activityId), ["processor-registry.activity.recorded"])

      const annex = yield* registry.annex(owner)
      const listed = annex.subProcessors.filter((s) => s.name.startsWith(name)).map((s) => s.name)
      assert.deepStrictEqual(listed, [name], "only approved processors that serve tenants")
      assert.include(DpaAnnex.toMarkdown(annex), name)

      const invalidOwner = yield* Effect.flip(registry.record({ ...owner, measures: [] as never }))
      assert.strictEqual(invalidOwner._tag, "InvalidInput")
    }))

  it.effect("concurrent changes to one processor are applied one after another", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const processor = yield* registry.register(staff, processorInput())
      yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => i),
        (i) => registry.update(staff, processor.id, processorInput({ legalName: `Name ${i}` })),
        { concurrency: "unbounded" }
      )
      const after = yield* registry.processor(processor.id)
      assert.strictEqual(after.revision, 13)
      assert.strictEqual((yield* actionsAbout(processor.id)).length, 13)
    }))

  it.effect("when the audit log cannot be written, nothing is stored", () =>
    Effect.gen(function*() {
      yield* atStart
      const registry = yield* ProcessorRegistry
      const recorder = yield* AuditRecorder
      const processor = yield* registry.register(staff, processorInput())
      yield* recorder.setFailing(true)
      const error = yield* Effect.flip(registry.startReview(staff, processor.id)).pipe(
        Effect.ensuring(recorder.setFailing(false))
      )
      assert.strictEqual(error._tag, "AuditStoreError")
      assert.strictEqual((yield* registry.processor(processor.id)).status._tag, "Candidate")
    }))
}

const start = () => Date.UTC(2026, 0, 15, 9)
