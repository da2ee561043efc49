/**
 * An entry of a tenant's audit log and its canonical encoding: the bytes
 * that are hashed into the Merkle tree (leaf hash `SHA-256(0x00 || bytes)`).
 *
 * ## Canonical encoding (version 1)
 *
 * The UTF-8 bytes of the RFC 8785 (JSON Canonicalization Scheme) form of:
 *
 * ```json
 * { "v": 1, "tenant": "<uuid>", "index": 42, "time": "2026-11-29T10:00:00.123Z",
 *   "actor": { "kind": "api-key", "id": "key_1" }, "action": "consent.recorded",
 *   "purpose": "newsletter", "legalBasis": "consent",
 *   "resource": { "type": "consent-event", "id": "..." },
 *   "subject": "<hex commitment>", "details": "<hex commitment>" }
 * ```
 *
 * Optional members are omitted when absent. The subject id and the details
 * are not in the hashed bytes: their **commitments** are,
 *
 * - `subject` = hex SHA-256 of the UTF-8 text `lawful/audit/v1/subject \0 <hex subjectSalt> \0 <subject id>`,
 * - `details` = hex SHA-256 of the UTF-8 text `lawful/audit/v1/details \0 <hex detailsSalt> \0 <RFC 8785 JSON of details>`,
 *
 * each with 16 random bytes of salt stored beside the entry. So the log can
 * drop an entry's details (retention) or its link to a subject (erasure:
 * the subject id and its salt are deleted, and nobody holding the id can find
 * the entry again) while every leaf hash still recomputes from what remains.
 *
 * @since 0.1.0
 */
import { SubjectId } from "@lawful/core/SubjectId"
import { TenantId } from "@lawful/core/TenantId"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { hash } from "node:crypto"
import { Actor, AuditEvent, Json, LegalBasis, Resource } from "./AuditEvent.js"
import { canonicalJson } from "./internal/canonical.js"
import { sha256 } from "./internal/bytes.js"
import { randomBytes } from "@lawful/core/Random"
import * as MerkleTree from "./MerkleTree.js"

/**
 * An entry as stored: the hashed bytes and what can be removed from beside them.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuditEntry {
  readonly tenant: TenantId
  readonly index: number
  readonly time: Date
  readonly actor: Actor
  readonly action: string
  readonly purpose: string | undefined
  readonly legalBasis: LegalBasis | undefined
  readonly resource: Resource | undefined
  /** The canonical bytes hashed into the tree. */
  readonly leaf: Uint8Array
  readonly leafHash: Uint8Array
  /** The subject and its salt, until erasure de-links them. */
  readonly subject: Option.Option<{ readonly id: SubjectId; readonly salt: Uint8Array }>
  /** The details and their salt, until retention redacts them. */
  readonly details: Option.Option<{ readonly value: Record<string, Json>; readonly salt: Uint8Array }>
  /** Whether the event had details (they may have been redacted since). */
  readonly hadDetails: boolean
  readonly hadSubject: boolean
}

// A resource as stored: read as it was written, whatever today's `Resource` refuses (an id holding
// `@`, which entries written before that refusal may hold), so that an honest log still verifies.
const StoredResource = Schema.Struct({ type: Schema.String, id: Schema.String })

/**
 * The members of the hashed document, as decoded from an entry's canonical bytes.
 * Text members (action, purpose, resource) are read as written: an entry
 * written before a rule of `AuditEvent` tightened still decodes and verifies.
 *
 * @since 0.1.0
 * @category models
 */
export const Leaf = Schema.Struct({
  v: Schema.Literal(1),
  tenant: TenantId,
  index: Schema.NonNegativeInt,
  time: Schema.String,
  actor: Actor,
  action: Schema.String,
  purpose: Schema.optional(Schema.String),
  legalBasis: Schema.optional(LegalBasis),
  resource: Schema.optional(StoredResource),
  subject: Schema.optional(Schema.String),
  details: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Leaf = typeof Leaf.Type

const encoder = new TextEncoder()
const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")

/**
 * The commitment to a subject id.
 *
 * @since 0.1.0
 * @category encoding
 */
export const subjectCommitment = (salt: Uint8Array, subject: SubjectId): string =>
  hash("sha256", `lawful/audit/v1/subject\0${hex(salt)}\0${subject}`, "hex")

/**
 * The commitment to an entry's details.
 *
 * @since 0.1.0
 * @category encoding
 */
export const detailsCommitment = (salt: Uint8Array, details: Record<string, Json>): string =>
  hash("sha256", `lawful/audit/v1/details\0${hex(salt)}\0${canonicalJson(details)}`, "hex")

/**
 * The canonical bytes of a leaf document.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeLeaf = (leaf: Leaf): Uint8Array => encoder.encode(canonicalJson(leaf as unknown as Json))

const quote = JSON.stringify

// The canonical text of a leaf, written member by member in RFC 8785 order
// (action, actor, details, index, legalBasis, purpose, resource, subject, tenant, time, v):
// the append path builds one per entry. `decodeLeaf` checks it against the generic form.
interface LeafFields {
  readonly tenant: TenantId
  readonly index: number
  readonly time: string
  readonly actor: Actor
  readonly action: string
  readonly purpose: string | undefined
  readonly legalBasis: LegalBasis | undefined
  readonly resource: Resource | undefined
  readonly subject: string | undefined
  readonly details: string | undefined
}

// The members the entries of a batch mostly share (the action and actor, the basis and purpose,
// the tenant and time) are written as JSON once and kept while the next entry has the same
// values: a leaf's text then costs two or three string escapes instead of ten.
let headAction: string | undefined
let headKind: string | undefined
let headId: string | undefined
let headText = ""
let basisOf: LegalBasis | undefined
let purposeOf: string | undefined
let basisText = ""
let tailTenant: string | undefined
let tailTime: string | undefined
let tailText = ""

const leafText = (leaf: LeafFields): string => {
  const actorId = leaf.actor.kind === "subject" ? undefined : leaf.actor.id
  if (headText === "" || leaf.action !== headAction || leaf.actor.kind !== headKind || actorId !== headId) {
    const actor = actorId === undefined
      ? `{"kind":"subject"}`
      : `{"id":${quote(actorId)},"kind":${quote(leaf.actor.kind)}}`
    headText = `{"action":${quote(leaf.action)},"actor":${actor}`
    headAction = leaf.action
    headKind = leaf.actor.kind
    headId = actorId
  }
  let text = headText
  if (leaf.details !== undefined) text += `,"details":${quote(leaf.details)}`
  text += `,"index":${leaf.index}`
  if (leaf.legalBasis !== basisOf || leaf.purpose !== purposeOf) {
    basisText = (leaf.legalBasis !== undefined ? `,"legalBasis":${quote(leaf.legalBasis)}` : "") +
      (leaf.purpose !== undefined ? `,"purpose":${quote(leaf.purpose)}` : "")
    basisOf = leaf.legalBasis
    purposeOf = leaf.purpose
  }
  text += basisText
  if (leaf.resource !== undefined) {
    text += `,"resource":{"id":${quote(leaf.resource.id)},"type":${quote(leaf.resource.type)}}`
  }
  if (leaf.subject !== undefined) text += `,"subject":${quote(leaf.subject)}`
  if (tailText === "" || leaf.tenant !== tailTenant || leaf.time !== tailTime) {
    tailText = `,"tenant":${quote(leaf.tenant)},"time":${quote(leaf.time)},"v":1}`
    tailTenant = leaf.tenant
    tailTime = leaf.time
  }
  return text + tailText
}

// The entries of a batch share their time: its text is computed once.
let lastTime: Date | undefined
let lastMillis = Number.NaN
let lastTimeText = ""
const isoTime = (time: Date): string => {
  const millis = time.getTime()
  if (time !== lastTime || millis !== lastMillis) {
    lastTimeText = time.toISOString()
    lastTime = time
    lastMillis = millis
  }
  return lastTimeText
}

/**
 * Makes the entry an event becomes at `index` and `time`, with fresh salts.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (tenant: TenantId, index: number, time: Date, event: AuditEvent): AuditEntry => {
  const subject = event.subject === undefined
    ? Option.none()
    : Option.some({ id: event.subject, salt: randomBytes(16) })
  const details = event.details === undefined
    ? Option.none()
    : Option.some({ value: event.details, salt: randomBytes(16) })
  // The leaf prefix 0x00 and the leaf in one buffer: one encoding, one hash call.
  const prefixed = Buffer.from(`\0${leafText({
    tenant,
    index,
    time: isoTime(time),
    actor: event.actor,
    action: event.action,
    purpose: event.purpose,
    legalBasis: event.legalBasis,
    resource: event.resource,
    subject: Option.isSome(subject) ? subjectCommitment(subject.value.salt, subject.value.id) : undefined,
    details: Option.isSome(details) ? detailsCommitment(details.value.salt, details.value.value) : undefined
  })}`, "utf8")
  const leaf = new Uint8Array(prefixed.buffer, prefixed.byteOffset + 1, prefixed.byteLength - 1)
  const leafHash = sha256(prefixed)
  return {
    tenant,
    index,
    time,
    actor: event.actor,
    action: event.action,
    purpose: event.purpose,
    legalBasis: event.legalBasis,
    resource: event.resource,
    leaf,
    leafHash,
    subject,
    details,
    hadSubject: Option.isSome(subject),
    hadDetails: Option.isSome(details)
  }
}

const decodeLeafJson = Schema.decodeUnknownOption(Schema.parseJson(Leaf))
// `ignoreBOM` keeps a leading byte order mark in the text, where the canonical check refuses it.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * Decodes canonical bytes into the leaf document; `None` when they are not
 * a version-1 leaf in canonical form.
 *
 * @since 0.1.0
 * @category encoding
 */
export const decodeLeaf = (bytes: Uint8Array): Option.Option<Leaf> => {
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    return Option.none()
  }
  return decodeLeafJson(text).pipe(
    Option.filter((leaf) => canonicalJson(leaf as unknown as Json) === text)
  )
}

/**
 * Why a stored entry does not match its own hashed bytes, if it does not:
 * the leaf hash, the index, tenant, time, actor, action, purpose, basis,
 * resource, and the subject and details against their commitments.
 *
 * @since 0.1.0
 * @category encoding
 */
export const check = (entry: AuditEntry, expected: { readonly tenant: TenantId; readonly index: number }): Option.Option<string> => {
  if (!bytesEqual(MerkleTree.hashLeaf(entry.leaf), entry.leafHash)) return Option.some("leaf hash does not match the entry")
  const decoded = decodeLeaf(entry.leaf)
  if (Option.isNone(decoded)) return Option.some("entry bytes are not a canonical version-1 leaf")
  const leaf = decoded.value
  if (leaf.tenant !== expected.tenant) return Option.some("entry belongs to another tenant")
  if (leaf.index !== expected.index || entry.index !== expected.index) {
    return Option.some(`entry at index ${expected.index} says index ${leaf.index}`)
  }
  if (leaf.time !== entry.time.toISOString()) return Option.some("entry time differs from its hashed time")
  if (canonicalJson(leaf.actor as Json) !== canonicalJson(entry.actor as Json)) return Option.some("actor differs")
  if (leaf.action !== entry.action) return Option.some("action differs")
  if (leaf.purpose !== entry.purpose) return Option.some("purpose differs")
  if (leaf.legalBasis !== entry.legalBasis) return Option.some("legal basis differs")
  if (canonicalJson((leaf.resource ?? null) as Json) !== canonicalJson((entry.resource ?? null) as Json)) {
    return Option.some("resource differs")
  }
  if ((leaf.subject !== undefined) !== entry.hadSubject) return Option.some("subject presence differs")
  if (Option.isSome(entry.subject) && leaf.subject !== subjectCommitment(entry.subject.value.salt, entry.subject.value.id)) {
    return Option.some("subject does not match its commitment")
  }
  if ((leaf.details !== undefined) !== entry.hadDetails) return Option.some("details presence differs")
  if (Option.isSome(entry.details) && leaf.details !== detailsCommitment(entry.details.value.salt, entry.details.value.value)) {
    return Option.some("details do not match their commitment")
  }
  return Option.none()
}

const bytesEqual = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0

/**
 * The event an entry records, as far as it is still stored: as it was
 * written, not checked again against the rules of `AuditEvent` today (an entry
 * written before one tightened is read as it stands).
 *
 * @since 0.1.0
 * @category constructors
 */
export const toEvent = (entry: AuditEntry): AuditEvent =>
  new AuditEvent({
    actor: entry.actor,
    action: entry.action,
    ...(entry.purpose !== undefined ? { purpose: entry.purpose } : {}),
    ...(entry.legalBasis !== undefined ? { legalBasis: entry.legalBasis } : {}),
    ...(entry.resource !== undefined ? { resource: entry.resource } : {}),
    ...(Option.isSome(entry.subject) ? { subject: entry.subject.value.id } : {}),
    ...(Option.isSome(entry.details) ? { details: entry.details.value.value } : {})
  }, true)
