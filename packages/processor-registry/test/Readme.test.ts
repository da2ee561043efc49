// The README's example, run against the real in-memory audit log, at a fixed time.
import { assert, it } from "@effect/vitest"
import { readmeShows } from "@lawful/core/testing"
import * as TestClock from "effect/TestClock"
// readme:start example
import { AuditLog } from "@lawful/audit-trail"
import { KeyStore, MasterKey, Vault } from "@lawful/core"
import { Dpa, ProcessingRecord, ProcessorRegistry, TenantNotifier } from "@lawful/processor-registry"
import { Effect, Layer } from "effect"

const staff = { kind: "staff", id: "staff-ada" } as const

const program = (signedAgreement: Uint8Array) =>
  Effect.gen(function*() {
    const registry = yield* ProcessorRegistry.ProcessorRegistry

    // A candidate, with a mechanism for each location outside the EEA.
    const processor = yield* registry.register(staff, {
      legalName: "Mailhost Inc.",
      contact: { name: "Privacy Office", email: "privacy@mailhost.example" },
      services: ["transactional email delivery"],
      role: { _tag: "Processor" },
      servesTenants: false, // true: announce it to the tenants first (registry.announce)
      purposes: ["sending the platform's own account email"],
      dataCategories: ["contact.email"],
      subjectCategories: ["customers' staff"],
      locations: [
        { country: "IE", description: "primary data centre" },
        {
          country: "US",
          description: "support",
          mechanism: {
            _tag: "DpfCertification",
            status: "active",
            certifiedOn: "2025-03-01",
            recertificationDue: "2027-02-28"
          }
        }
      ]
    })
    yield* registry.startReview(staff, processor.id)

    // The signed DPA, by the hash of the signed document.
    yield* registry.recordDpa(staff, processor.id, {
      version: "2026-01",
      parties: ["Lawful Platform Ltd", "Mailhost Inc."],
      signedOn: "2026-01-10",
      documentSha256: Dpa.hashDocument(signedAgreement),
      reviewDue: "2027-01-10"
    })

    // A questionnaire, the processor's answers, and the reviewer's decision.
    yield* registry.publishQuestionnaire(staff, {
      id: "security",
      version: 1,
      title: "Processor security questionnaire",
      passMark: 0.7,
      questions: [
        { _tag: "YesNo", id: "encryption", text: "Is data encrypted at rest?", weight: 3, expected: true, critical: true },
        {
          _tag: "Choice",
          id: "breach-notice",
          text: "How soon do you report a breach to us?",
          options: [
            { value: "24h", label: "Within 24 hours", points: 2 },
            { value: "72h", label: "Within 72 hours", points: 1 }
          ]
        }
      ]
    })
    const assessment = yield* registry.submitAssessment(staff, processor.id, {
      questionnaireId: "security",
      questionnaireVersion: 1,
      answers: { encryption: true, "breach-notice": "24h" }
    })
    yield* registry.decideAssessment(staff, assessment.id, {
      outcome: "satisfactory",
      notes: "Encryption and breach process verified"
    })

    // Approval: refused with ApprovalRefused, naming each gap, until all of the above hold.
    yield* registry.approve(staff, processor.id)

    yield* registry.recordActivity(staff, {
      id: "account-email",
      name: "Account email",
      actingAs: "controller",
      purposes: ["sending the platform's own account email"],
      legalBasis: "contract",
      subjectCategories: ["customers' staff"],
      dataCategories: ["contact.email"],
      processors: [processor.id],
      otherRecipients: []
    })

    // The Art. 30 record, as JSON, CSV and HTML; findings for the compliance report.
    const record = yield* registry.record({
      name: "Lawful Platform Ltd",
      contact: "privacy@lawful.example",
      dataProtectionOfficer: "dpo@lawful.example",
      measures: [{ area: "Encryption", description: "AES-256-GCM under a key per subject" }]
    })
    const findings = yield* registry.findings
    return {
      json: ProcessingRecord.toJson(record),
      csv: ProcessingRecord.toCsv(record),
      html: ProcessingRecord.toHtml(record),
      findings
    }
  })

// The Vault keeps the platform's key, under which stated reasons are logged as keyed digests.
const VaultLive = Vault.layer.pipe( // or KeyStore.layerSql and MasterKey.layerConfig
  Layer.provide(Layer.merge(KeyStore.layerMemory, MasterKey.layerRandom))
)

const RegistryLive = ProcessorRegistry.layerMemory.pipe( // or layerSql with Database.layer
  Layer.provide(Layer.mergeAll(AuditLog.layerMemory, TenantNotifier.layerMemory, VaultLive))
)
// readme:end example

it.effect("the README's example registers, assesses and approves a processor and exports the record", () =>
  Effect.gen(function*() {
    yield* TestClock.setTime(Date.UTC(2026, 1, 1, 9))
    const { csv, findings, html, json } = yield* program(new TextEncoder().encode("the signed agreement"))
    assert.deepStrictEqual(findings, [])
    const parsed = JSON.parse(json)
    assert.deepStrictEqual(parsed.asController[0].recipients.map((r: { name: string }) => r.name), ["Mailhost Inc."])
    assert.strictEqual(parsed.asController[0].transfers[0].country, "US")
    assert.isTrue(parsed.asController[0].transfers[0].valid)
    assert.include(csv, "Account email")
    assert.include(html, "Mailhost Inc.")

    // 400 days on, the DPA and assessment reviews are overdue and the DPF certification has lapsed.
    yield* TestClock.adjust("400 days")
    const later = yield* Effect.flatMap(ProcessorRegistry.ProcessorRegistry, (registry) => registry.findings)
    assert.deepStrictEqual(
      later.map((finding) => (finding._tag === "ReviewOverdue" ? `ReviewOverdue:${finding.of}` : finding._tag)),
      ["ReviewOverdue:dpa", "ReviewOverdue:assessment", "DpfCertificationLapsed"]
    )
  }).pipe(Effect.provide(RegistryLive)))

it("the README shows the example as the test runs it", () => {
  assert.deepStrictEqual(
    readmeShows(new URL("../README.md", import.meta.url), new URL(import.meta.url), "example"),
    { ok: true }
  )
})
