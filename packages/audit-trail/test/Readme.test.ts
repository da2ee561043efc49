// The README's example, run as the README shows it: an event appended, proven, and verified offline.
import { assert, it } from "@effect/vitest"
import { pgliteLayer, readmeShows } from "@lawful/core/testing"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as AuditStore from "../src/AuditStore.js"
import * as Checkpoint from "../src/Checkpoint.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
// readme:start example
import { AuditEvent, AuditLog, ProofBundle } from "@lawful/audit-trail"
import { TenantId } from "@lawful/core"
import { Effect } from "effect"

const program = Effect.gen(function*() {
  const log = yield* AuditLog.AuditLog
  const tenant = yield* TenantId.make

  const { index } = yield* log.append(tenant, new AuditEvent.AuditEvent({
    actor: { kind: "api-key", id: "key_1" },
    action: "consent.recorded",
    purpose: "newsletter",
    legalBasis: "consent"
  }))

  const bundle = yield* log.proofBundle(tenant, index)
  const json = ProofBundle.toJson(bundle) // hand this to an auditor, with log.verifierKey
  const origin = log.origin(tenant) // the tenant's log: one key signs every tenant's

  // The auditor, offline, with nothing but the JSON, the public key and the log's origin:
  // the proof and checkpoint, then the entry itself (its index is the leaf's, its tenant the origin's).
  const { checkpoint, entry } = yield* ProofBundle.verifyEntryJson(json, log.verifierKey, { origin })
  return { treeSize: checkpoint.treeSize, action: entry.action }
})

const main = program.pipe(Effect.provide(AuditLog.layerMemory))
// readme:end example

// The layers the README names for a database, with their config, and the key they sign with.
const DatabaseLive = AuditLog.layer.pipe(
  Layer.provide(Layer.mergeAll(
    AuditStore.layerSql.pipe(Layer.provide(pgliteLayer)),
    AuditLog.AuditSigner.layerConfig,
    CheckpointPublisher.layerConfig
  ))
)

const checkpointDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "lawful-audit-readme-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

// A bundle made as the README makes it, with its log's key, to check what the auditor's verification rejects.
const bundle = Effect.gen(function*() {
  const log = yield* AuditLog.AuditLog
  const tenant = yield* TenantId.make
  const { index } = yield* log.append(
    tenant,
    new AuditEvent.AuditEvent({ actor: { kind: "api-key", id: "key_1" }, action: "consent.recorded" })
  )
  return { json: ProofBundle.toJson(yield* log.proofBundle(tenant, index)), verifierKey: log.verifierKey }
}).pipe(Effect.provide(AuditLog.layerMemory))

// The bundle's JSON with one byte of the entry changed.
const withEntryByteChanged = (json: string) => {
  const value = JSON.parse(json)
  const entry = Buffer.from(value.entry, "base64")
  const at = entry.length - 2
  entry[at] = entry[at]! ^ 0x01
  return JSON.stringify({ ...value, entry: entry.toString("base64") })
}

it.effect("the README's example appends an event and verifies its bundle and entry offline, at tree size 1", () =>
  Effect.gen(function*() {
    assert.deepStrictEqual(yield* main, { treeSize: 1, action: "consent.recorded" })
  }))

it.scoped("the README's example runs on a database, signing with the configured key and publishing to the directory", () =>
  Effect.gen(function*() {
    const dir = yield* checkpointDir
    const signingKey = Redacted.value(yield* Checkpoint.generateSigningKey())
    const signer = yield* Checkpoint.makeSigner("lawful/audit", Buffer.from(signingKey, "base64"))
    const config = ConfigProvider.fromMap(
      new Map([["LAWFUL_AUDIT_SIGNING_KEY", signingKey], ["LAWFUL_CHECKPOINT_DIR", dir]])
    )
    const { treeSize, verifierKey } = yield* Effect.gen(function*() {
      const { treeSize } = yield* program
      return { treeSize, verifierKey: (yield* AuditLog.AuditLog).verifierKey }
    }).pipe(Effect.provide(DatabaseLive), Effect.withConfigProvider(config))
    assert.strictEqual(treeSize, 1)
    assert.strictEqual(verifierKey, signer.verifierKey)
    const [tenant, ...others] = yield* Effect.promise(() => readdir(dir))
    assert.deepStrictEqual(others, [])
    assert.deepStrictEqual(
      yield* Effect.promise(() => readdir(join(dir, tenant!)).then((files) => files.sort())),
      ["0000000000000001.checkpoint", "latest"]
    )
  }))

it.effect("the auditor's check fails when one byte of the entry changes", () =>
  Effect.gen(function*() {
    const { json, verifierKey } = yield* bundle
    assert.strictEqual((yield* ProofBundle.verifyJson(json, verifierKey)).treeSize, 1)
    const result = yield* Effect.flip(ProofBundle.verifyJson(withEntryByteChanged(json), verifierKey))
    assert.strictEqual(result.reason, "inclusion proof: computed root does not match the expected root")
  }))

it.effect("the auditor's check fails for a bundle of another tenant's log, signed by the same key", () =>
  Effect.gen(function*() {
    const log = yield* AuditLog.AuditLog
    const [tenant, other] = [yield* TenantId.make, yield* TenantId.make]
    const appended = yield* log.append(
      other,
      new AuditEvent.AuditEvent({ actor: { kind: "api-key", id: "key_1" }, action: "consent.recorded" })
    )
    const json = ProofBundle.toJson(yield* log.proofBundle(other, appended.index))
    const result = yield* Effect.flip(ProofBundle.verifyJson(json, log.verifierKey, { origin: log.origin(tenant) }))
    assert.strictEqual(result.reason, `checkpoint: the checkpoint is for ${log.origin(other)}, not the expected ${log.origin(tenant)}`)
  }).pipe(Effect.provide(AuditLog.layerMemory)))

it.effect("the auditor's check fails with another log's public key", () =>
  Effect.gen(function*() {
    const { json } = yield* bundle
    const other = yield* bundle
    const result = yield* Effect.flip(ProofBundle.verifyJson(json, other.verifierKey))
    assert.match(result.reason, /^checkpoint: no signature by lawful\/audit\+/)
  }))

it("the README shows the examples as the tests run them", () => {
  for (const name of ["example"]) {
    const shown = readmeShows(new URL("../README.md", import.meta.url), new URL(import.meta.url), name)
    assert.isTrue(shown.ok, shown.ok ? name : shown.reason)
  }
})
