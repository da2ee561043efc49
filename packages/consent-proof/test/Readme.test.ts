// The README's examples, run as the README shows them: `ConsentLive` built from configuration
// (PGlite, master key, signing key and checkpoints in a temporary directory), then the recording,
// import, export and proof examples on it, one tenant, at a fixed time.
import { assert, it } from "@effect/vitest"
import * as AuditLog from "@lawful/audit-trail/AuditLog"
import * as AuditStore from "@lawful/audit-trail/AuditStore"
import * as Checkpoint from "@lawful/audit-trail/Checkpoint"
import * as CheckpointPublisher from "@lawful/audit-trail/CheckpointPublisher"
import * as Database from "@lawful/core/Database"
import * as KeyStore from "@lawful/core/KeyStore"
import * as MasterKey from "@lawful/core/MasterKey"
import * as PersonalDataRegistry from "@lawful/core/PersonalDataRegistry"
import * as RetentionTarget from "@lawful/core/RetentionTarget"
import * as SubjectDirectory from "@lawful/core/SubjectDirectory"
import * as SuppressionList from "@lawful/core/SuppressionList"
import * as TenantId from "@lawful/core/TenantId"
import { readmeShows } from "@lawful/core/testing"
import * as Vault from "@lawful/core/Vault"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { createWriteStream } from "node:fs"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pipeline } from "node:stream/promises"
import * as ConsentExport from "../src/ConsentExport.js"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentNotice from "../src/ConsentNotice.js"
import * as ConsentProof from "../src/ConsentProof.js"

const readme = new URL("../README.md", import.meta.url)
const regions = ["setting-up", "memory", "recording", "importing", "exporting", "proving"]

// readme:start setting-up
const core = Layer.mergeAll(SubjectDirectory.layerSql, SuppressionList.layerSql).pipe(
  Layer.provideMerge(Vault.layer),
  Layer.provide(Layer.merge(KeyStore.layerSql, MasterKey.layerConfig))
)
const audit = AuditLog.layer.pipe(
  Layer.provide(Layer.mergeAll(AuditStore.layerSql, AuditLog.AuditSigner.layerConfig, CheckpointPublisher.layerConfig))
)

export const ConsentLive = Layer.mergeAll(ConsentLedger.personalDataSource, ConsentLedger.withdrawnProofRetention).pipe(
  Layer.provideMerge(ConsentLedger.layerSql), // ConsentLedger, ConsentStore, ConsentLists
  Layer.provideMerge(Layer.merge(core, audit)),
  Layer.provideMerge(Layer.merge(PersonalDataRegistry.layer, RetentionTarget.layer)),
  Layer.provide(Database.layer)
)
// readme:end setting-up

// readme:start memory
// A random master key here, a random signing key in AuditLog.layerMemory: nothing outlives the process.
const coreMemory = Layer.mergeAll(SubjectDirectory.layerMemory, SuppressionList.layerMemory).pipe(
  Layer.provideMerge(Vault.layer),
  Layer.provide(Layer.merge(KeyStore.layerMemory, MasterKey.layerRandom))
)

export const ConsentMemory = Layer.mergeAll(ConsentLedger.personalDataSource, ConsentLedger.withdrawnProofRetention).pipe(
  Layer.provideMerge(ConsentLedger.layerMemory), // ConsentLedger, ConsentStore, ConsentLists
  Layer.provideMerge(Layer.merge(coreMemory, AuditLog.layerMemory)), // AuditLog and AuditTrail too
  Layer.provideMerge(Layer.merge(PersonalDataRegistry.layer, RetentionTarget.layer))
)
// readme:end memory

const temporaryDirectory = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "lawful-consent-readme-"))),
  (directory) => Effect.promise(() => rm(directory, { recursive: true, force: true }))
)

// The configuration `ConsentLive` reads, as a deployment would set it; no DATABASE_URL, so PGlite.
const ConsentFromConfig = Layer.unwrapScoped(Effect.gen(function*() {
  const directory = yield* temporaryDirectory
  const signingKey = yield* Checkpoint.generateSigningKey()
  const config = ConfigProvider.fromMap(
    new Map([
      ["LAWFUL_DATA_DIR", join(directory, "data")],
      ["LAWFUL_CHECKPOINT_DIR", join(directory, "checkpoints")],
      ["LAWFUL_MASTER_KEY", Redacted.value(MasterKey.generate())],
      ["LAWFUL_AUDIT_SIGNING_KEY", Redacted.value(signingKey)]
    ])
  )
  return ConsentLive.pipe(Layer.provide(Layer.setConfigProvider(config)))
}))

it.scoped("the README's examples record, import, export and prove consent on the setup from configuration", () =>
  Effect.gen(function*() {
    const now = new Date("2026-07-01T09:00:00.000Z")
    yield* TestClock.setTime(now.getTime())
    const tenant = yield* TenantId.make

    // readme:start recording
    const program = Effect.gen(function*() {
      const lists = yield* ConsentLists.ConsentLists
      yield* lists.declare(tenant, new ConsentLists.ConsentList({
        id: ConsentLists.ListId.make("weekly"), name: "Weekly digest", purpose: "A weekly email with our new articles",
        doubleOptIn: true
      }))

      const ledger = yield* ConsentLedger.ConsentLedger
      // The form shows a notice; the event keeps the hashes of exactly what was shown.
      const notice = ConsentNotice.hash({
        text: "Get our weekly digest. Unsubscribe at any time.",
        labels: ["Weekly digest"],
        privacyPolicyUrl: "https://brand.example/privacy"
      })
      const granted = yield* ledger.record(tenant, {
        kind: "granted",
        email: "ada@example.com",
        lists: ["weekly"],
        source: { type: "form", formId: "signup", formVersion: 3 },
        notice,
        language: "en",
        ip: "203.0.113.7",
        userAgent: "Mozilla/5.0 ...",
        actor: { kind: "subject" }
      })
      // Double opt-in: pending until the confirmation click.
      yield* ledger.record(tenant, {
        kind: "confirmed", email: "ada@example.com", lists: ["weekly"],
        source: { type: "api" }, ip: "203.0.113.9", actor: { kind: "subject" }
      })
      yield* ledger.mayReceiveMarketing(tenant, granted.event.subject, "weekly") // true
    })
    // readme:end recording
    yield* program

    const ledger = yield* ConsentLedger.ConsentLedger
    const [granted, confirmed] = yield* ledger.events(tenant, { limit: 10 })
    const subject = granted!.event.subject
    const eventId = granted!.event.id
    assert.deepStrictEqual<ReadonlyArray<string>>(granted!.event.awaitingConfirmation, ["weekly"])
    assert.deepStrictEqual(confirmed!.event.confirms, [eventId])
    assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, subject, "weekly"))
    assert.deepStrictEqual(
      (yield* ledger.stateOf(tenant, subject)).map(({ list, status }) => ({ list, status })),
      [{ list: ConsentLists.ListId.make("weekly"), status: "granted" }]
    )

    // An import of four rows: one new contact, one suppressed, one invalid, one duplicate.
    const keyId = "key-readme"
    yield* Effect.flatMap(SuppressionList.SuppressionList, (list) => list.add(tenant, "gone@example.com", "unsubscribe"))
    const rows = [
      { email: "grace@example.com", consentedAt: new Date("2025-03-01T10:00:00.000Z"), ip: "198.51.100.1" },
      { email: "gone@example.com" },
      { email: "not-an-address" },
      { email: "Grace@example.com" }
    ]
    // readme:start importing
    const report = yield* ledger.importContacts(tenant, {
      attestation: {
        where: "Sign-up form at https://shop.example/join",
        how: "Unticked checkbox and confirmation email (double opt-in)",
        collectedFrom: "2024-01-01T00:00:00.000Z",
        collectedTo: "2026-06-30T00:00:00.000Z",
        attestedBy: { name: "Jane Doe", role: "DPO", organisation: "Shop Example SAS" }
      },
      lists: ["weekly"],
      actor: { kind: "api-key", id: keyId },
      idempotencyKey: "shop-export-2026-06-30", // optional: a retry with the same key records nothing twice
      contacts: rows // an Iterable or a Stream of { email, consentedAt?, ip?, userAgent? }
    })
    // { importId, received, recorded, alreadyRecorded, suppressed, invalidEmail, invalidIp, invalidConsentedAt,
    //   invalidUserAgent, outsideAttestedPeriod, duplicates, withdrawn, rejections: [{ row, reason }] }
    // readme:end importing
    assert.deepStrictEqual({ ...report, importId: "" }, {
      importId: "",
      received: 4,
      recorded: 1,
      alreadyRecorded: 0,
      suppressed: 1,
      invalidEmail: 1,
      invalidIp: 0,
      invalidConsentedAt: 0,
      invalidUserAgent: 0,
      outsideAttestedPeriod: 0,
      duplicates: 1,
      withdrawn: 0,
      rejections: [{ row: 2, reason: "suppressed" }, { row: 3, reason: "invalid-email" }, { row: 4, reason: "duplicate" }]
    })
    const imported = (yield* ledger.events(tenant, { limit: 10 }))[2]!.event
    assert.strictEqual(imported.kind, "granted")
    assert.deepStrictEqual<ReadonlyArray<string>>(imported.lists, ["weekly"])
    assert.isTrue(imported.source.type === "import" && imported.source.importId === report.importId)
    assert.match(imported.source.type === "import" ? imported.source.attestation : "", /^[0-9a-f]{64}$/)

    const file = join(yield* temporaryDirectory, "consents.csv")
    // readme:start exporting
    const actor = { kind: "api-key", id: keyId } as const // who decrypts, for the audit log
    const csv = yield* Stream.toAsyncIterableEffect(ConsentExport.csv(tenant, { actor })) // or ConsentExport.json(tenant, { actor })
    yield* Effect.tryPromise(() => pipeline(csv, createWriteStream(file)))
    const records = yield* Stream.mkString(ConsentExport.json(tenant, { subject, actor })) // one subject's records, as JSON text
    // readme:end exporting
    // The header, then one line per event in recording order, each ending in CRLF.
    const text = yield* Effect.promise(() => readFile(file, "utf8"))
    assert.isTrue(text.endsWith("\r\n"))
    const lines = text.slice(0, -2).split("\r\n")
    assert.deepStrictEqual(lines.slice(1).map((line) => line.split(",")[3]), [
      "consent_given",
      "consent_confirmed",
      "consent_given"
    ])
    const header = lines[0]!.split(",")
    assert.deepStrictEqual(header, [...ConsentExport.csvColumns])
    const grantedRow = lines[1]!.split(",")
    const field = (name: string) => grantedRow[header.indexOf(name)]
    assert.strictEqual(field("record_id"), eventId)
    assert.strictEqual(field("ip_address"), "203.0.113.7")
    assert.strictEqual(field("form_id"), "signup")
    assert.strictEqual(field("event_sha256"), granted!.hash)
    const parsed = JSON.parse(records) as ReadonlyArray<Record<string, any>>
    assert.deepStrictEqual(parsed.map((record) => record.record_id), [eventId, confirmed!.event.id])
    assert.strictEqual(parsed[0]!.schema_version, "lawful-consent-record-1")
    assert.strictEqual(parsed[0]!.pii_principal_id, subject)
    assert.deepStrictEqual(parsed[0]!.pii_controllers, [{ pii_controller_id: tenant }])
    assert.strictEqual(parsed[0]!.purposes[0].purpose_id, "weekly")
    assert.strictEqual(parsed[0]!.purposes[0].lawful_basis, "consent")
    assert.deepStrictEqual(parsed[0]!.event, [{
      event_time: now.toISOString(),
      event_type: "consent_given",
      event_state: "pending"
    }])
    assert.strictEqual(parsed[0]!.evidence.ip_address, "203.0.113.7")

    // readme:start proving
    // On the platform: the event's canonical bytes, its audit entry's details and salt,
    // the inclusion proof and a signed checkpoint; optionally the IP and user agent with their salts.
    const proof = yield* ledger.proof(tenant, eventId, { disclose: true, actor }) // audited: consent.disclosed
    const json = ConsentProof.toJson(proof, 2)
    const key = ledger.verifierKey // publish it: "lawful/audit+1a2b3c4d+AbC..."

    // Anywhere, offline, with only the JSON and the key:
    const verified = yield* ConsentProof.verifyJson(json, key)
    verified.event.time        // when
    verified.event.source      // { type: "form", formId: "signup", formVersion: 3 }
    verified.event.notice      // hashes of what the person saw
    verified.ip                // Option.some("203.0.113.7"), checked against the event's commitment
    verified.checkpoint        // the signed tree head the proof is against
    // readme:end proving
    assert.match(key, /^lawful\/audit\+[0-9a-f]{8}\+/)
    assert.deepStrictEqual(verified.event.time, now)
    assert.deepStrictEqual(verified.event.source, { type: "form", formId: "signup", formVersion: 3 })
    assert.deepStrictEqual(verified.event.notice, granted!.event.notice)
    assert.deepStrictEqual(verified.ip, Option.some("203.0.113.7"))
    assert.strictEqual(verified.auditIndex, granted!.auditIndex)
    assert.isAbove(verified.checkpoint.treeSize, verified.auditIndex)
    // Verification needs no service: only the JSON and the key.
    const offline: Effect.Effect<ConsentProof.VerifiedConsent, ConsentProof.ConsentProofInvalid, never> = ConsentProof
      .verifyJson(json, key)
    assert.deepStrictEqual((yield* offline).event, verified.event)
    // A disclosed IP that is not the one committed to is refused.
    const altered = yield* Effect.flip(ConsentProof.verifyJson(json.replace("\"203.0.113.7\"", "\"203.0.113.8\""), key))
    assert.strictEqual(altered._tag, "ConsentProofInvalid")
  }).pipe(Effect.provide(ConsentFromConfig)), { timeout: 120_000 })

it.effect("the README's memory stack records a consent and lists the ledger's source, with no setting", () =>
  Effect.gen(function*() {
    const tenant = yield* TenantId.make
    const lists = yield* ConsentLists.ConsentLists
    yield* lists.declare(tenant, new ConsentLists.ConsentList({
      id: ConsentLists.ListId.make("weekly"), name: "Weekly digest", purpose: "A weekly email", doubleOptIn: false
    }))
    const ledger = yield* ConsentLedger.ConsentLedger
    const granted = yield* ledger.record(tenant, {
      kind: "granted", email: "ada@example.com", lists: ["weekly"], source: { type: "api" }, actor: { kind: "subject" }
    })
    assert.isTrue(yield* ledger.mayReceiveMarketing(tenant, granted.event.subject, "weekly"))
    // Its audit entry is in the in-memory log, and the ledger is a personal-data source.
    const entries = yield* Effect.flatMap(AuditLog.AuditLog, (log) => log.query(tenant, { actionPrefix: "consent." }))
    assert.deepStrictEqual(entries.entries.map((entry) => entry.action), ["consent.granted"])
    const sources = (yield* Effect.flatMap(PersonalDataRegistry.PersonalDataRegistry, (registry) => registry.sources))
      .map((source) => source.name)
    assert.include(sources, ConsentLedger.sourceName)
  }).pipe(Effect.provide(ConsentMemory)))

it("the README shows the examples as the tests run them", () => {
  for (const name of regions) {
    assert.deepStrictEqual(readmeShows(readme, new URL(import.meta.url), name), { ok: true }, name)
  }
})
