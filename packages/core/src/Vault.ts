/**
 * The Vault: envelope encryption of personal data, and crypto-shredding.
 *
 * Three levels of keys:
 *
 * - the **master key** (`LAWFUL_MASTER_KEY`, see `MasterKey`) wraps
 * - one **tenant key** per tenant (32 random bytes; HKDF derives from it the
 *   key that wraps subject keys and the key of blind indexes), which wraps
 * - one **subject key** per subject (32 random bytes), which seals that
 *   subject's fields.
 *
 * Fields are sealed with AES-256-GCM, a random 96-bit nonce per message, and
 * associated data binding tenant, subject and purpose, so a ciphertext moved
 * to another subject, tenant or purpose does not open. A sealed value is
 * `0x01 || nonce (12) || ciphertext || tag (16)`.
 *
 * `shred` destroys a subject's key: every copy of its ciphertexts, backups
 * and archives included, becomes unreadable, and the subject id enters the
 * erasure ledger. After restoring a key-store backup, `reapplyErasures` with a
 * ledger kept elsewhere (the audit log's `subject.erased` entries, say)
 * destroys the keys again.
 *
 * `seal`, `open`, `blindIndex`, `findBlindIndex` and `newSubject` cost a few microseconds of
 * CPU, less than a tracing span would: they carry no span of their own and
 * show inside the span of the operation that calls them (their key-store
 * statements, when a key is not cached, have their `sql.execute` spans). The
 * operations that always reach the key store (`shred`, `sealAll`, rotation)
 * have spans. No span of the library captures a stack trace: that costs a
 * `new Error()` per call and points into library internals anyway.
 *
 * Unwrapped subject keys are cached in memory (as `KeyObject`s) for
 * `cacheTtl` (default 30 s). A shred in this process evicts at once, from the
 * cache and from the subjects made ahead; a shred in another process is seen
 * here when the entry expires. A shred inside a SQL transaction is seen by
 * other connections only when it commits: until this process reads the
 * subject shredded from the store, it caches no key of the subject it reads.
 *
 * Keys are created by writes only (`seal`, `sealAll`, `newSubject(s)`,
 * `prepare`, `blindIndex`). A write that makes a tenant's key fails with
 * `MasterKeyRetired`, writing nothing, when a completed rotation retired the
 * current master key: the key store checks it in the transaction of the insert
 * (`KeyStore.createTenantKey`; on SQL a new tenant key is one transaction of a
 * few statements: the lock, the check, the insert, the read of the key stored),
 * so no retirement comes between the check and the write; a tenant that has its
 * key pays nothing.
 * Building the layer checks the current key once too. Reads (`open`, `openAll`, `findBlindIndex`,
 * `isShredded`, `shreddedAmong`) create none: on a tenant that never had a key they answer
 * that nothing was sealed or indexed, and write nothing, so they behave the
 * same inside a SQL transaction as outside. No key is created in the
 * caller's transaction (`KeyStore.layerSql` refuses; `KeyStore.layerClient`
 * creates it in the keys' own database), so no key the Vault caches can be
 * rolled back.
 *
 * Every operation checks the tenant and subject ids it is given before it reads or writes a
 * key: one that is not a lower-case UUID (an address put in the wrong place, an upper-case
 * UUID, which PostgreSQL would take as another spelling of the lower-case one while the memory
 * store and the associated data would not) fails with `KeyStoreError`, whose cause does not
 * quote it, alike on every key store, and nothing is written. So does a list that is not an
 * array (`sealAll`, `openAll`, `shreddedAmong`) or not iterable (`reapplyErasures`), and a plaintext to seal that
 * is neither text nor bytes (`seal`, `sealAll`), from a caller without types; a sealed value to
 * open that is not bytes is `SealedValueInvalid` (`"malformed"`).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync } from "node:crypto"
import type { KeyObject } from "node:crypto"
import { inTransaction, outsideTransaction } from "./Database.js"
import * as BoundedCache from "./internal/boundedCache.js"
import { notAnArray, noSubjects, refusalOfIds } from "./internal/refusal.js"
import { randomBytes } from "./Random.js"
import { Erasure, KeyStore, KeyStoreError, MasterKeyRetired } from "./KeyStore.js"
import type { SubjectKeyState, WrappedKey } from "./KeyStore.js"
import { MasterKeys } from "./MasterKey.js"
import type { MasterKey } from "./MasterKey.js"
import * as SubjectIds from "./SubjectId.js"
import type { SubjectId } from "./SubjectId.js"
import * as TenantIds from "./TenantId.js"
import type { TenantId } from "./TenantId.js"
import * as Text from "./Text.js"

/**
 * Bytes sealed by the Vault.
 *
 * @since 0.1.0
 * @category models
 */
export const Sealed = Schema.Uint8ArrayFromSelf.pipe(Schema.brand("@lawful/core/Vault/Sealed"))

/**
 * @since 0.1.0
 * @category models
 */
export type Sealed = typeof Sealed.Type

/**
 * Sealed bytes as base64 text, for JSON documents.
 *
 * @since 0.1.0
 * @category models
 */
export const SealedFromBase64: Schema.Schema<Sealed, string> = Schema.compose(Schema.Uint8ArrayFromBase64, Sealed)

/**
 * The subject's key was destroyed: nothing sealed for this subject can be
 * opened, and nothing new can be sealed for it.
 *
 * @since 0.1.0
 * @category errors
 */
export class SubjectShredded extends Schema.TaggedError<SubjectShredded>()("SubjectShredded", {
  tenantId: Schema.String,
  subjectId: Schema.String
}) {
  override get message(): string {
    return `Subject ${this.subjectId} was shredded`
  }
}

/**
 * The sealed value does not open: it was altered, truncated, or belongs to
 * another tenant, subject or purpose.
 *
 * @since 0.1.0
 * @category errors
 */
export class SealedValueInvalid extends Schema.TaggedError<SealedValueInvalid>()("SealedValueInvalid", {
  reason: Schema.Literal("malformed", "unknown-version", "authentication-failed")
}) {
  override get message(): string {
    return `Sealed value does not open: ${this.reason}`
  }
}

/**
 * A stored key is wrapped by a master key that is not configured, or its
 * wrapping does not authenticate. This is a configuration or integrity
 * problem, never the caller's input. Its message names the tenant (never a
 * key) and says what to do: for `"unknown-master-key"` (as when
 * `LAWFUL_MASTER_KEY` was changed without a rotation), set `LAWFUL_MASTER_KEY`
 * to the key in service, or put the key that wrapped the tenant's key in
 * `LAWFUL_MASTER_KEY_PREVIOUS` and rotate; for `"unwrap-failed"` (a stored key
 * damaged, or a key store restored in part), which no master key setting
 * mends, restore the key store from a backup.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyUnavailable extends Schema.TaggedError<KeyUnavailable>()("KeyUnavailable", {
  tenantId: Schema.String,
  reason: Schema.Literal("unknown-master-key", "unwrap-failed")
}) {
  override get message(): string {
    return this.reason === "unknown-master-key"
      ? `Key of tenant ${this.tenantId} is wrapped by a master key that is not configured (unknown-master-key): ` +
        "set LAWFUL_MASTER_KEY to the key in service, or put the key that wrapped it in LAWFUL_MASTER_KEY_PREVIOUS " +
        "and rotate (docs/operations.md, \"Rotating it\")"
      : `Key of tenant ${this.tenantId} is unavailable: a stored key does not authenticate (unwrap-failed), ` +
        "damaged or from a key store restored in part, which no master key setting mends: " +
        "restore the key store from a backup (docs/operations.md, \"Backups and erasure\")"
  }
}

/**
 * The current master key (`LAWFUL_MASTER_KEY`) is one that a completed rotation retired, and a
 * retired key wraps nothing new (see `KeyStore.MasterKeyRetired`, the same class: the key store
 * refuses a new tenant key under a retired master key with it). Names the key by its id, never
 * the key. Set `LAWFUL_MASTER_KEY` to the key in service.
 *
 * @since 0.1.0
 * @category errors
 */
export { MasterKeyRetired }

/**
 * A tenant key that master-key rotation left as it was, and why: wrapped by a
 * master key that is not configured (`"unknown-master-key"`), a wrapping that
 * does not authenticate (`"unwrap-failed"`), or a key that this run re-wrapped
 * (or tried to) and found again under another master key
 * (`"rewrapped-by-another-process"`: a process whose current master key is
 * another re-wrapped it meanwhile). Names the tenant only, never key material.
 *
 * @since 0.1.0
 * @category models
 */
export interface RotationSkipped {
  readonly tenantId: TenantId
  readonly reason: KeyUnavailable["reason"] | "rewrapped-by-another-process"
}

/**
 * What `rotateMasterKey` did: how many tenant keys it re-wrapped, and the
 * tenant keys it could not re-wrap, in tenant id order.
 *
 * @since 0.1.0
 * @category models
 */
export interface RotationResult {
  readonly rewrapped: number
  readonly skipped: ReadonlyArray<RotationSkipped>
}

/**
 * Errors of the Vault's storage and key hierarchy. `MasterKeyRetired` comes only from an operation
 * that makes a tenant's key (a write on a tenant that has none); reads never fail with it.
 *
 * @since 0.1.0
 * @category errors
 */
export type VaultError = KeyStoreError | KeyUnavailable | MasterKeyRetired

/**
 * What a field is sealed for, bound into its associated data (for example
 * `"subject.email"`, `"consent.ip"`).
 *
 * @since 0.1.0
 * @category models
 */
export type Purpose = string

/**
 * @since 0.1.0
 * @category services
 */
export class Vault extends Context.Tag("@lawful/core/Vault")<Vault, {
  /**
   * Seals the plaintext for the subject and purpose, creating the subject's key when it has
   * none. A plaintext that is neither a string nor a `Uint8Array` fails with `KeyStoreError`
   * before any key is read or made.
   */
  readonly seal: (
    tenant: TenantId,
    subject: SubjectId,
    purpose: Purpose,
    plaintext: Uint8Array | string
  ) => Effect.Effect<Sealed, SubjectShredded | VaultError>
  /**
   * The plaintext of a value sealed for the subject and purpose. Creates no key: for a subject
   * or a tenant that never had one, nothing was sealed, and the value fails with
   * `SealedValueInvalid`; a subject shredded fails with `SubjectShredded`. A sealed value that is
   * not a `Uint8Array` is not one: `SealedValueInvalid` (`"malformed"`), before any key is read.
   */
  readonly open: (
    tenant: TenantId,
    subject: SubjectId,
    purpose: Purpose,
    sealed: Uint8Array
  ) => Effect.Effect<Uint8Array, SubjectShredded | SealedValueInvalid | VaultError>
  readonly openString: (
    tenant: TenantId,
    subject: SubjectId,
    purpose: Purpose,
    sealed: Uint8Array
  ) => Effect.Effect<string, SubjectShredded | SealedValueInvalid | VaultError>
  /**
   * Opens many sealed values of one tenant, loading the subject keys not
   * cached in one key-store call: the path of exports. Each item has its own
   * outcome (`SubjectShredded`, `SealedValueInvalid`); only a storage or key
   * failure fails the whole call. Creates no key, as `open`. `items` that is not an array fails
   * with `KeyStoreError`.
   */
  readonly openAll: (
    tenant: TenantId,
    items: ReadonlyArray<{ readonly subject: SubjectId; readonly purpose: Purpose; readonly sealed: Uint8Array }>
  ) => Effect.Effect<ReadonlyArray<Either.Either<Uint8Array, SubjectShredded | SealedValueInvalid>>, VaultError>
  /**
   * Seals fields of many subjects of one tenant, creating their missing keys in
   * one key-store call: the path of batched writes (new contacts, imports). `items` that is not
   * an array, or a plaintext neither text nor bytes, fails with `KeyStoreError` before any key
   * is made.
   */
  readonly sealAll: (
    tenant: TenantId,
    items: ReadonlyArray<{ readonly subject: SubjectId; readonly purpose: Purpose; readonly plaintext: Uint8Array | string }>
  ) => Effect.Effect<ReadonlyArray<Sealed>, SubjectShredded | VaultError>
  /**
   * A new subject id whose key already exists: keys are made ahead, a pool at
   * a time in one key-store call, so creating a subject costs no round trip of
   * its own. A tenant's pool is small at first (4 keys ahead) and grows while
   * the tenant makes subjects fast (doubling at each refill within a second of
   * the last, up to `subjectPoolSize`); a pool that falls below it is refilled
   * in the background (in the Vault's scope), and a writer waits for keys only
   * when it takes more than the pool holds. A key made ahead and never handed
   * out (the process stopped) protects nothing and can stay.
   */
  readonly newSubject: (tenant: TenantId) => Effect.Effect<SubjectId, VaultError>
  /**
   * `count` new subjects as `newSubject` makes them, at most one key-store call for all. `count`
   * is a count: anything but a non-negative integer is a defect.
   */
  readonly newSubjects: (tenant: TenantId, count: number) => Effect.Effect<ReadonlyArray<SubjectId>, VaultError>
  /**
   * Gives back subjects from `newSubject(s)` that nothing refers to (nothing
   * sealed for them was stored, their id was never written): they return to
   * the pool and are handed out again. The path of writers that seal before
   * they know whether a subject is new, such as the directory's one-statement
   * resolve. A subject whose key is no longer cached simply stays unused, and so do the subjects
   * of anything but an array (from a caller without types): it gives nothing back.
   */
  readonly releaseSubjects: (tenant: TenantId, subjects: Iterable<SubjectId>) => Effect.Effect<void>
  /**
   * Makes the tenant's keys, and subject keys ahead for at least `subjects`
   * new subjects (default: the pool size), before a transaction: inside one
   * no key is created, so a transaction that makes subjects
   * (`SubjectDirectory.resolve` of new addresses, `ConsentLedger.record`)
   * needs them made first. The pool is shared by every writer of the tenant:
   * ask for what the transaction will use, plus what runs beside it. Called
   * inside a transaction it creates nothing (unless the keys are on a
   * database of their own, `KeyStore.layerClient`), and fails with
   * `KeyStoreError` when the keys are not there already. `subjects` is a
   * count: anything but a non-negative integer is a defect.
   */
  readonly prepare: (tenant: TenantId, subjects?: number) => Effect.Effect<void, VaultError>
  /** Destroys the subject's key; idempotent. */
  readonly shred: (tenant: TenantId, subject: SubjectId) => Effect.Effect<void, KeyStoreError>
  readonly isShredded: (tenant: TenantId, subject: SubjectId) => Effect.Effect<boolean, KeyStoreError>
  /**
   * The subjects among `subjects` whose key was shredded, in one key-store read for the keys not
   * cached (the live keys it reads are cached, as `openAll` caches them): the check of a batch
   * that must not write for an erased subject. A key cached here is taken as live; a shred in
   * another process is seen when the entry expires (`cacheTtl`). Creates no key.
   */
  readonly shreddedAmong: (
    tenant: TenantId,
    subjects: ReadonlyArray<SubjectId>
  ) => Effect.Effect<ReadonlySet<SubjectId>, VaultError>
  /**
   * HMAC-SHA-256 of `domain \0 value` under the tenant's blind-index key, hex: equal values give
   * equal indexes within one tenant and domain only, so two tables indexing the same address
   * (the directory, a suppression list) cannot be joined on it. A domain holding a NUL character
   * or an unpaired surrogate (which could give another domain's indexes), or that is not text,
   * is refused with `KeyStoreError` before any key is read or made, never quoted. Creates the
   * tenant's key when it has none, as a write does (so, like `seal`, only outside a transaction
   * unless the keys were made before it): the index of a value to store. To look a value up,
   * `findBlindIndex`.
   */
  readonly blindIndex: (tenant: TenantId, domain: string, value: string) => Effect.Effect<string, VaultError>
  /**
   * `blindIndex` for a lookup: `None` when the tenant has no key, and so has indexed nothing;
   * it never creates the key, and refuses the domains `blindIndex` refuses. A read built on it
   * writes nothing, on a tenant never used either, and answers the same inside a transaction as
   * outside.
   */
  readonly findBlindIndex: (
    tenant: TenantId,
    domain: string,
    value: string
  ) => Effect.Effect<Option.Option<string>, VaultError>
  /**
   * Re-wraps every tenant key under the current master key; subject keys and data are untouched.
   * A tenant key it cannot unwrap (its master key is not configured, or its wrapping does not
   * authenticate) is left as it was, logged as a warning (tenant and reason) and reported in
   * `skipped`: it never stops the others. Only a key-store failure fails the run, which is safe to
   * run again. It goes on until a pass finds nothing left to re-wrap: done when `skipped` is empty
   * (started once every process runs on the new key).
   *
   * A run re-wraps each tenant key once at most. A key it finds again under another master key
   * after it re-wrapped it (or lost the race to re-wrap it) was re-wrapped meanwhile by a process
   * whose current master key is another, such as one still configured with the keys swapped:
   * it is left as it is, reported with reason `"rewrapped-by-another-process"`, and the run
   * ends, instead of taking keys back and forth with that process for ever. Give every process
   * the same `LAWFUL_MASTER_KEY`, then run again.
   *
   * A run that completes (nothing left to re-wrap, `skipped` empty) retires the previous master
   * keys: the key store records their ids (`KeyStore.retireMasterKeys`), never the keys, once it
   * finds no tenant key wrapped by one of them. A tenant key made under a previous key after the
   * run's last pass read (by a process still on it) holds the retirement back: the run takes
   * another pass, which re-wraps it, and retires then; so a run that returns with `skipped` empty
   * leaves no tenant key wrapped by a retired key, and none can be made under one after. A run
   * whose current master key was retired fails with `MasterKeyRetired`, naming its id, before
   * it reads a page of tenant keys, so it re-wraps nothing (a key retired by another process
   * while a run is under way stops it at its next page, or at its next re-wrap, which the key
   * store refuses: `KeyStore.replaceTenantKey`). A run that did not complete retires
   * nothing: going back to the old key stays possible until then. A run whose retirement is
   * refused 8 times (a process still on a previous key keeps making tenant keys under it) fails
   * with `KeyStoreError`, retiring nothing, or with `MasterKeyRetired` when the refusal was
   * because another process retired its current key.
   *
   * Run it outside any transaction of the key store's database: the SQL key store refuses a
   * re-wrap and a retirement inside one (`KeyStoreError`, operation `replaceTenantKey` or
   * `retireMasterKeys`, before any statement), so a run inside `sql.withTransaction` fails at its
   * first re-wrap, or at its retirement when nothing is left to re-wrap, having written nothing.
   * Inside, each re-wrap's lock of the retired keys' table and its tenant's row would be held until
   * the outer commit: every new tenant key, in every process, would wait for it, and a rotation of
   * another process, waiting for such a row, would deadlock with this run's retirement. On
   * `KeyStore.layerClient` (whose statements leave the caller's transaction out) and in memory it
   * runs inside a transaction as outside.
   */
  readonly rotateMasterKey: Effect.Effect<RotationResult, KeyStoreError | MasterKeyRetired>
  /** The tenant's erasure ledger, oldest first. */
  readonly erasures: (tenant: TenantId) => Effect.Effect<ReadonlyArray<Erasure>, KeyStoreError>
  /**
   * Destroys again the keys of every listed subject (after restoring a backup), idempotently; a
   * subject the store does not know gets its tombstone, so no key is made for it again. Returns
   * how many it changed: keys destroyed and tombstones written.
   */
  readonly reapplyErasures: (erasures: Iterable<Erasure>) => Effect.Effect<number, KeyStoreError>
}>() {}

/**
 * @since 0.1.0
 * @category models
 */
export interface VaultOptions {
  /** How long an unwrapped subject key stays cached. Default 30 seconds. */
  readonly cacheTtl?: Duration.DurationInput
  /**
   * How many unwrapped subject keys stay cached at most (at least one). Default 100,000. A
   * full cache forgets its oldest hundredth at once; a forgotten key is read and unwrapped again.
   */
  readonly cacheSize?: number
  /**
   * How many tenants' unwrapped keys stay cached at most (at least one). Default 10,000. A
   * full cache forgets its oldest hundredth at once; a forgotten tenant's keys are read and
   * unwrapped again when next used.
   */
  readonly tenantCacheSize?: number
  /**
   * The most subject keys a tenant's refill makes ahead (at least one). Default 64. A tenant
   * starts at 4 and doubles while it makes subjects fast; a quiet minute halves it.
   */
  readonly subjectPoolSize?: number
  /** How many tenant keys `rotateMasterKey` reads at a time (at least one). Default 500. */
  readonly rotationPageSize?: number
}

const VERSION = 0x01
const NONCE = 12
const TAG = 16
const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

const associatedData = (...parts: ReadonlyArray<string>) => Buffer.from(["lawful/v1", ...parts].join("\0"), "utf8")

const encrypt = (key: KeyObject, plaintext: Uint8Array, aad: Uint8Array): Uint8Array => {
  const nonce = randomBytes(NONCE)
  const cipher = createCipheriv("aes-256-gcm", key, nonce)
  cipher.setAAD(aad)
  const body = cipher.update(plaintext)
  const final = cipher.final()
  return Buffer.concat([Buffer.of(VERSION), nonce, body, final, cipher.getAuthTag()])
}

const decrypt = (
  key: KeyObject,
  sealed: Uint8Array,
  aad: Uint8Array
): Uint8Array | "malformed" | "unknown-version" | "authentication-failed" => {
  // A value that is not bytes (from a caller without types) is not a sealed value.
  if (!(sealed instanceof Uint8Array)) return "malformed"
  if (sealed.length < 1 + NONCE + TAG) return "malformed"
  if (sealed[0] !== VERSION) return "unknown-version"
  const nonce = sealed.subarray(1, 1 + NONCE)
  const tag = sealed.subarray(sealed.length - TAG)
  const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: TAG })
  decipher.setAAD(aad)
  decipher.setAuthTag(tag)
  try {
    const body = decipher.update(sealed.subarray(1 + NONCE, sealed.length - TAG))
    return Buffer.concat([body, decipher.final()])
  } catch {
    return "authentication-failed"
  }
}

interface TenantKeys {
  readonly wrapping: KeyObject
  readonly blindIndex: KeyObject
}

// What a caller without types may pass that the Vault does not take is refused before any key is
// read or written, never quoted.
const refuseInput = (operation: string, what: string) =>
  Effect.fail(new KeyStoreError({ operation, cause: new Error(what) }))
// An id given where a tenant's or a subject's goes is checked as every key store checks it
// (`refusalOfIds`), so that they answer alike, and the refusal never quotes it.
const checkIds = (
  operation: string,
  tenant: unknown,
  subjects: ReadonlyArray<unknown> = noSubjects
): Effect.Effect<void, KeyStoreError> => {
  const refused = refusalOfIds(tenant, subjects)
  return refused === undefined ? Effect.void : refuseInput(operation, refused)
}

// A blind index is of `domain \0 value` in UTF-8: a domain holding a NUL would give another
// domain's indexes (`"a\0b", "c"` those of `"a", "b\0c"`), and one holding an unpaired surrogate,
// encoded as U+FFFD, those of the domain holding U+FFFD. Such a domain, or one that is not text,
// is refused as an id is; every other domain hashes as it always did.
const checkDomain = (operation: string, domain: unknown): Effect.Effect<void, KeyStoreError> =>
  typeof domain === "string" && Text.isStorable(domain)
    ? Effect.void
    : refuseInput(operation, "a blind-index domain given is not text free of NUL characters and unpaired surrogates")

// A list given where an array goes, or a plaintext that is neither text nor bytes, is refused as
// an id is.
const refuseNotAnArray = (operation: string) => refuseInput(operation, notAnArray)
const isPlaintext = (plaintext: unknown): boolean => typeof plaintext === "string" || plaintext instanceof Uint8Array
const notPlaintext = (operation: string) => refuseInput(operation, "a plaintext given is neither text nor bytes")
// The tenant and the items of `sealAll` or `openAll`, on the path of every batched write and
// export: the ids as every key store checks them (`refusalOfIds`; an item that is not an object
// has no subject, refused as an id), then, with `plaintexts`, each plaintext. An id that is not
// one is refused before a plaintext of the wrong kind, wherever each is in the list.
const checkItems = (
  operation: string,
  tenant: unknown,
  items: ReadonlyArray<unknown>,
  plaintexts: boolean
): Effect.Effect<void, KeyStoreError> => {
  const refused = refusalOfIds(tenant, items, (item) => (item as { readonly subject?: unknown } | null)?.subject)
  if (refused !== undefined) return refuseInput(operation, refused)
  if (plaintexts) {
    for (const item of items) {
      if (!isPlaintext((item as { readonly plaintext?: unknown })?.plaintext)) return notPlaintext(operation)
    }
  }
  return Effect.void
}

// Fails with `MasterKeyRetired` when a completed rotation retired the master key of `keyId`: read
// each time, never cached, so that a retirement by another process is never missed.
const refuseRetired = (store: KeyStore["Type"], keyId: string): Effect.Effect<void, KeyStoreError | MasterKeyRetired> =>
  Effect.flatMap(store.isMasterKeyRetired(keyId), (retired) => retired ? Effect.fail(new MasterKeyRetired({ keyId })) : Effect.void)

const deriveTenantKeys = (root: Uint8Array): TenantKeys => {
  const derive = (info: string) =>
    createSecretKey(Buffer.from(hkdfSync("sha256", root, Buffer.alloc(0), `lawful/v1/${info}`, 32)))
  return { wrapping: derive("subject-key-wrapping"), blindIndex: derive("blind-index") }
}

/**
 * The Vault over the `KeyStore` and `MasterKeys` in context. Its background work (keys
 * made ahead for new subjects) lives in the scope. Unlike `layer`, it does not check the current
 * master key when made; it still makes no tenant key under a retired one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: VaultOptions = {}) =>
  Effect.gen(function*() {
    const store = yield* KeyStore
    const masters = yield* MasterKeys
    const ttl = Duration.toMillis(options.cacheTtl ?? Duration.seconds(30))
    // A cache of fewer than one key is one key: `newSubjects` hands its keys over through it.
    const cacheSize = Math.max(1, Math.floor(options.cacheSize ?? 100_000))

    const tenantCache = BoundedCache.make<TenantId, TenantKeys>(Math.max(1, Math.floor(options.tenantCacheSize ?? 10_000)))
    const subjectCache = BoundedCache.make<string, { readonly key: KeyObject; readonly expires: number }>(cacheSize)
    const cacheKey = (tenant: TenantId, subject: SubjectId) => `${tenant}/${subject}`

    const masterById = (id: string): MasterKey | undefined =>
      masters.current.id === id ? masters.current : masters.previous.find((key) => key.id === id)

    const tenantKeyAad = (tenant: TenantId) => associatedData("tenant-key", tenant)
    const wrapTenantRoot = (tenant: TenantId, root: Uint8Array): WrappedKey => ({
      wrappedBy: masters.current.id,
      ciphertext: encrypt(masters.current.key, root, tenantKeyAad(tenant))
    })
    const unwrapTenantRoot = (tenant: TenantId, wrapped: WrappedKey) => {
      const master = masterById(wrapped.wrappedBy)
      if (!master) return Effect.fail(new KeyUnavailable({ tenantId: tenant, reason: "unknown-master-key" }))
      const root = decrypt(master.key, wrapped.ciphertext, tenantKeyAad(tenant))
      return typeof root === "string"
        ? Effect.fail(new KeyUnavailable({ tenantId: tenant, reason: "unwrap-failed" }))
        : Effect.succeed(root)
    }

    const rememberTenantKeys = (tenant: TenantId, wrapped: WrappedKey) =>
      Effect.map(unwrapTenantRoot(tenant, wrapped), (root) => {
        const keys = deriveTenantKeys(root)
        tenantCache.set(tenant, keys)
        return keys
      })

    const refuseRetiredCurrent = refuseRetired(store, masters.current.id)
    // A new tenant key is wrapped by the current master key, and the key store refuses it with
    // `MasterKeyRetired`, writing nothing, when a completed rotation retired that key (which may
    // then be destroyed, and a tenant key it wraps with it): in one step with the insert, so that
    // no retirement comes between the check and the write. Nothing is cached: a cached "not
    // retired" would miss a retirement by another process for as long as it was kept.
    const createTenantKey = (tenant: TenantId) =>
      Effect.suspend(() => store.createTenantKey(tenant, wrapTenantRoot(tenant, randomBytes(32))))

    // The tenant's keys, created when it has none: for writes.
    const tenantKeys = (tenant: TenantId): Effect.Effect<TenantKeys, VaultError> => {
      const cached = tenantCache.get(tenant)
      if (cached) return Effect.succeed(cached)
      return store.tenantKey(tenant).pipe(
        Effect.flatMap(Option.match({
          onSome: Effect.succeed,
          onNone: () => createTenantKey(tenant)
        })),
        Effect.flatMap((wrapped) => rememberTenantKeys(tenant, wrapped))
      )
    }

    // The tenant's keys if it has them, creating none: for reads. A tenant without a key has
    // sealed and indexed nothing, so a read answers without writing, inside a transaction too.
    // Only keys that exist are cached: another process may create them at any time.
    const existingTenantKeys = (tenant: TenantId): Effect.Effect<Option.Option<TenantKeys>, VaultError> => {
      const cached = tenantCache.get(tenant)
      if (cached) return Effect.succeed(Option.some(cached))
      return Effect.flatMap(store.tenantKey(tenant), Option.match({
        onNone: () => Effect.succeedNone,
        onSome: (wrapped) => Effect.asSome(rememberTenantKeys(tenant, wrapped))
      }))
    }

    const subjectKeyAad = (tenant: TenantId, subject: SubjectId) => associatedData("subject-key", tenant, subject)

    const remember = (id: string, key: KeyObject, now: number) => {
      subjectCache.set(id, { key, expires: now + ttl })
      return key
    }
    // Counts the shreds of this process. A key read from the store before a shred ended is not
    // cached after it: the shred's eviction came first, and the subject would open from the
    // cache until the entry expired.
    let shreds = 0
    // Subjects shredded inside a transaction, which may not have committed yet: until it does, a
    // read on another connection still finds the key, which must not be cached. A subject leaves
    // this set when the store shows it shredded (after a rollback it is read from the store,
    // uncached, until the set forgets it).
    const shredsInTransaction = BoundedCache.make<string, true>(cacheSize)
    const rememberRead = (id: string, key: KeyObject, now: number, shredsBeforeRead: number) =>
      shredsBeforeRead === shreds && shredsInTransaction.get(id) === undefined ? remember(id, key, now) : key
    const shreddedInStore = (tenant: TenantId, subject: SubjectId) => {
      shredsInTransaction.delete(cacheKey(tenant, subject))
      return new SubjectShredded({ tenantId: tenant, subjectId: subject })
    }
    // Every copy of the key this process holds: the cache's, and the pool's (a subject released
    // back to it would be handed out again, its key cached anew, and seal after its shred).
    const evict = (tenant: TenantId, subject: SubjectId, inTransaction: boolean) => {
      shreds++
      subjectCache.delete(cacheKey(tenant, subject))
      if (inTransaction) shredsInTransaction.set(cacheKey(tenant, subject), true)
      const pooled = pools.get(tenant)?.keys
      const at = pooled?.findIndex(([id]) => id === subject) ?? -1
      if (at >= 0) pooled!.splice(at, 1)
    }

    const subjectKey = (
      tenant: TenantId,
      subject: SubjectId,
      create: boolean
    ): Effect.Effect<KeyObject, SubjectShredded | SealedValueInvalid | VaultError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const id = cacheKey(tenant, subject)
        const cached = subjectCache.get(id)
        if (cached && cached.expires > now) return Effect.succeed(cached.key)
        const shredsBeforeRead = shreds
        return Effect.gen(function*() {
          let keys: TenantKeys | undefined
          let state: SubjectKeyState | undefined
          if (create) {
            keys = yield* tenantKeys(tenant)
            // Creating returns the stored key when there is one: one round trip either way.
            state = yield* store.createSubjectKey(tenant, subject, {
              wrappedBy: "tenant",
              ciphertext: encrypt(keys.wrapping, randomBytes(32), subjectKeyAad(tenant, subject))
            })
          } else {
            keys = Option.getOrUndefined(yield* existingTenantKeys(tenant))
            state = Option.getOrUndefined(yield* store.subjectKey(tenant, subject))
          }
          // A subject that never had a key has nothing sealed: the value cannot be theirs.
          if (state === undefined) return yield* new SealedValueInvalid({ reason: "authentication-failed" })
          // Shredded before its tenant had a key, too.
          if (state._tag === "Shredded") return yield* shreddedInStore(tenant, subject)
          // A subject key without its tenant's key (a key store restored in part) cannot be unwrapped.
          if (keys === undefined) return yield* new KeyUnavailable({ tenantId: tenant, reason: "unwrap-failed" })
          const raw = decrypt(keys.wrapping, state.key.ciphertext, subjectKeyAad(tenant, subject))
          if (typeof raw === "string") return yield* new KeyUnavailable({ tenantId: tenant, reason: "unwrap-failed" })
          return rememberRead(id, createSecretKey(Buffer.from(raw)), now, shredsBeforeRead)
        })
      })

    const fieldAad = (tenant: TenantId, subject: SubjectId, purpose: Purpose) =>
      associatedData("field", tenant, subject, purpose)

    const open = (tenant: TenantId, subject: SubjectId, purpose: Purpose, sealed: Uint8Array) =>
      // A value that is not bytes is not a sealed value, whoever's key it would be opened with.
      (sealed instanceof Uint8Array ? subjectKey(tenant, subject, false) : Effect.fail(new SealedValueInvalid({ reason: "malformed" }))).pipe(
        Effect.flatMap((key) => {
          const result = decrypt(key, sealed, fieldAad(tenant, subject, purpose))
          return typeof result === "string"
            ? Effect.fail(new SealedValueInvalid({ reason: result }))
            : Effect.succeed(result)
        })
      )

    // The subjects' keys, those not cached read in one key-store call (and cached): each key, or
    // why there is none. Creates no key.
    const keysOf = (tenant: TenantId, subjects: Iterable<SubjectId>) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const keys = new Map<SubjectId, Either.Either<KeyObject, SubjectShredded | SealedValueInvalid>>()
        const missing = new Set<SubjectId>()
        for (const subject of subjects) {
          if (keys.has(subject) || missing.has(subject)) continue
          const cached = subjectCache.get(cacheKey(tenant, subject))
          if (cached && cached.expires > now) keys.set(subject, Either.right(cached.key))
          else missing.add(subject)
        }
        if (missing.size > 0) {
          const shredsBeforeRead = shreds
          const tenantKeysOf = Option.getOrUndefined(yield* existingTenantKeys(tenant))
          const states = yield* store.subjectKeys(tenant, [...missing])
          for (const subject of missing) {
            const state = states.get(subject)
            // A subject that never had a key has nothing sealed: the value cannot be theirs.
            if (state === undefined) {
              keys.set(subject, Either.left(new SealedValueInvalid({ reason: "authentication-failed" })))
            } else if (state._tag === "Shredded") {
              keys.set(subject, Either.left(shreddedInStore(tenant, subject)))
            } else if (tenantKeysOf === undefined) {
              return yield* new KeyUnavailable({ tenantId: tenant, reason: "unwrap-failed" })
            } else {
              const raw = decrypt(tenantKeysOf.wrapping, state.key.ciphertext, subjectKeyAad(tenant, subject))
              if (typeof raw === "string") return yield* new KeyUnavailable({ tenantId: tenant, reason: "unwrap-failed" })
              keys.set(
                subject,
                Either.right(rememberRead(cacheKey(tenant, subject), createSecretKey(Buffer.from(raw)), now, shredsBeforeRead))
              )
            }
          }
        }
        return keys
      })

    const openAll = (
      tenant: TenantId,
      items: ReadonlyArray<{ readonly subject: SubjectId; readonly purpose: Purpose; readonly sealed: Uint8Array }>
    ) =>
      Effect.gen(function*() {
        const keys = yield* keysOf(tenant, items.map((item) => item.subject))
        return items.map(({ purpose, sealed, subject }) =>
          Either.flatMap(keys.get(subject)!, (key): Either.Either<Uint8Array, SealedValueInvalid> => {
            const result = decrypt(key, sealed, fieldAad(tenant, subject, purpose))
            return typeof result === "string"
              ? Either.left(new SealedValueInvalid({ reason: result }))
              : Either.right(result)
          })
        )
      }).pipe(Effect.withSpan("Vault.openAll", { captureStackTrace: false, attributes: { count: items.length } }))

    const rotationPageSize = Math.max(1, Math.floor(options.rotationPageSize ?? 500))
    // One pass over the tenant keys not wrapped by the current master key, a page at a time after
    // the last tenant read: a key that cannot be unwrapped is passed over, not read again, and so
    // is a key an earlier pass of the run re-wrapped or tried to (`attempted`): found again, it was
    // re-wrapped since under another master key, by a process with another current key.
    const rotationPass = (attempted: Set<TenantId>) => Effect.gen(function*() {
      let rewrapped = 0
      let raced = 0
      const skipped: Array<RotationSkipped> = []
      let after: TenantId | undefined = undefined
      while (true) {
        yield* refuseRetiredCurrent
        const page: ReadonlyArray<readonly [TenantId, WrappedKey]> = yield* store.tenantKeysNotWrappedBy(
          masters.current.id,
          rotationPageSize,
          after
        )
        for (const [tenant, wrapped] of page) {
          if (after !== undefined && tenant <= after) {
            return yield* Effect.dieMessage(
              "KeyStore.tenantKeysNotWrappedBy returned a tenant at or before its cursor: a key store must " +
                "return only the tenants after `after`, in tenant id order"
            )
          }
          after = tenant
          if (attempted.has(tenant)) {
            skipped.push({ tenantId: tenant, reason: "rewrapped-by-another-process" })
            continue
          }
          const root = yield* Effect.either(unwrapTenantRoot(tenant, wrapped))
          if (Either.isLeft(root)) {
            skipped.push({ tenantId: tenant, reason: root.left.reason })
            continue
          }
          attempted.add(tenant)
          if (yield* store.replaceTenantKey(tenant, wrapped, wrapTenantRoot(tenant, root.right))) rewrapped++
          else raced++
        }
        if (page.length < rotationPageSize) return { rewrapped, raced, skipped }
      }
    })
    // How many refused retirements a run takes another pass after (see `rotateMasterKey`).
    const maxRetirementsRefused = 8
    // Passes until one finds nothing but keys it passes over: a tenant made by a process still on
    // an old key behind the cursor, or a key changed while it was re-wrapped, is taken by the next.
    // Each pass that does not end the run tried a key no pass had tried, so the run ends. The last
    // pass saw every key still not re-wrapped, so its skipped keys are the ones left.
    const rotateMasterKey = Effect.gen(function*() {
      const attempted = new Set<TenantId>()
      let rewrapped = 0
      let retirementsRefused = 0
      while (true) {
        const pass = yield* rotationPass(attempted)
        rewrapped += pass.rewrapped
        if (pass.rewrapped === 0 && pass.raced === 0) {
          yield* Effect.forEach(pass.skipped, ({ reason, tenantId }) =>
            Effect.logWarning(
              reason === "rewrapped-by-another-process"
                ? "Vault.rotateMasterKey: a tenant key was re-wrapped meanwhile under another master key " +
                  "(a process with another LAWFUL_MASTER_KEY) and stays as it is"
                : "Vault.rotateMasterKey: a tenant key cannot be unwrapped and stays as it was"
            ).pipe(Effect.annotateLogs({ tenantId, reason })), { discard: true })
          // Complete: no tenant key is wrapped by a previous key any more, which retires them. In
          // one step with the check of the current key, so that two runs with swapped keys that
          // both complete cannot retire each other's, and with the check that no tenant key is
          // still wrapped by one of them: a key made under one, by a process still on it, after
          // this pass read. Refused, another pass re-wraps that key, or fails with
          // `MasterKeyRetired` first when the refusal was of the current key.
          const retiring = [...new Set(masters.previous.map((key) => key.id))].filter((id) => id !== masters.current.id)
          if (pass.skipped.length === 0 && retiring.length > 0) {
            const now = yield* Clock.currentTimeMillis
            if (!(yield* store.retireMasterKeys(retiring, masters.current.id, new Date(now)))) {
              // A process still on a previous key that makes a tenant's key after every pass (or a
              // key store that always refuses) would hold the run for ever: it ends, retiring nothing.
              if (++retirementsRefused < maxRetirementsRefused) continue
              // Refused because another process retired the current key: that is the error.
              yield* refuseRetiredCurrent
              return yield* new KeyStoreError({
                operation: "rotateMasterKey",
                cause: new Error(
                  `the previous master keys were not retired: ${maxRetirementsRefused} times, a tenant key was still ` +
                    "wrapped by one of them (a process still on a previous LAWFUL_MASTER_KEY keeps making tenant keys): " +
                    "give every process the key in service, then run again"
                )
              })
            }
          }
          return { rewrapped, skipped: pass.skipped }
        }
      }
    }).pipe(Effect.withSpan("Vault.rotateMasterKey", { captureStackTrace: false }))

    const poolSize = Math.max(1, Math.floor(options.subjectPoolSize ?? 64))
    // A tenant's keys made ahead, and how many its refills make ahead: a few at first, twice as
    // many at each refill that comes within a second of the previous one (a tenant making
    // subjects fast), up to `poolSize`; half as many after a quiet minute. A tenant that makes a
    // subject now and then keeps a few keys in memory, and leaves a few unused in the key store
    // when the process stops, instead of a pool's worth each.
    interface Pool {
      readonly keys: Array<readonly [SubjectId, KeyObject]>
      ahead: number
      refilledAt: number | undefined
    }
    const firstAhead = Math.min(4, poolSize)
    const pools = new Map<TenantId, Pool>()
    const poolOf = (tenant: TenantId) => {
      let pool = pools.get(tenant)
      if (pool === undefined) {
        pool = { keys: [], ahead: firstAhead, refilledAt: undefined }
        pools.set(tenant, pool)
      }
      return pool
    }
    const paceRefill = (pool: Pool, now: number) => {
      if (pool.refilledAt !== undefined) {
        const since = now - pool.refilledAt
        if (since < 1000) pool.ahead = Math.min(poolSize, pool.ahead * 2)
        else if (since > 60_000) pool.ahead = Math.max(firstAhead, Math.floor(pool.ahead / 2))
      }
      pool.refilledAt = now
      return pool.ahead
    }
    const refilling = yield* Effect.makeSemaphore(1)
    // Makes keys until the pool holds `wanted` plus the tenant's keys ahead, in one key-store call.
    const refill = (tenant: TenantId, wanted: number) =>
      Effect.gen(function*() {
        const pool = poolOf(tenant)
        if (pool.keys.length >= wanted) return
        const keys = yield* tenantKeys(tenant)
        const ahead = paceRefill(pool, yield* Clock.currentTimeMillis)
        const subjects = yield* Effect.all(Array.from({ length: wanted - pool.keys.length + ahead }, () => SubjectIds.make))
        const raw = subjects.map(() => randomBytes(32))
        const wrapped = subjects.map((subject, i) => encrypt(keys.wrapping, raw[i]!, subjectKeyAad(tenant, subject)))
        const states = yield* store.createSubjectKeys(
          tenant,
          subjects.map((subject, i) => [subject, { wrappedBy: "tenant", ciphertext: wrapped[i]! }] as const)
        )
        subjects.forEach((subject, i) => {
          // Only keys this call stored are handed out (a random id colliding with a stored one is not).
          const state = states.get(subject)
          if (state?._tag === "Active" && Buffer.compare(state.key.ciphertext, wrapped[i]!) === 0) {
            pool.keys.push([subject, createSecretKey(raw[i]!)])
          }
        })
      })
    // A pool that falls below the tenant's keys ahead is refilled in the background, so that a
    // writer rarely waits for keys (the wait showed in the tail latency of every writer that
    // makes subjects). A background refill that fails changes nothing: the next writer refills
    // in its own path.
    const refillsAhead = yield* FiberSet.make()
    const refillingAhead = new Set<TenantId>()
    const refillAhead = (tenant: TenantId) =>
      refillingAhead.has(tenant) ? Effect.void : Effect.suspend(() => {
        refillingAhead.add(tenant)
        // Not in the transaction its caller may have open: the fibre would run on that
        // transaction's connection, perhaps after it ended, and keys are not created in one.
        return FiberSet.run(
          refillsAhead,
          outsideTransaction(refilling.withPermits(1)(Effect.suspend(() => refill(tenant, poolOf(tenant).ahead))).pipe(
            Effect.ignore,
            Effect.ensuring(Effect.sync(() => refillingAhead.delete(tenant)))
          ))
        )
      })
    // A refill the caller waits for. Inside a transaction the key store refuses to create keys
    // (unless it keeps them in a database of its own): try at once, without waiting for a
    // background refill, which on PGlite waits for that transaction to end.
    const refillNow = (tenant: TenantId, wanted: number, keys: Effect.Effect<unknown, VaultError> = Effect.void) =>
      Effect.flatMap(inTransaction, (joined) => {
        const made = Effect.zipRight(keys, refill(tenant, wanted))
        return joined ? made : refilling.withPermits(1)(made)
      })
    const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0
    // A count that is not one, as a defect may name it: by its kind, never its value (a caller
    // without types may put an address there).
    const kindOf = (value: unknown) =>
      typeof value === "number"
        ? "a number that is not one"
        : value === null
        ? "null"
        : Array.isArray(value)
        ? "an array"
        : `a value of type ${typeof value}`
    const newSubjects = (tenant: TenantId, count: number): Effect.Effect<ReadonlyArray<SubjectId>, VaultError> =>
      Effect.suspend(() => {
        // NaN never fills the pool: it would refill for ever.
        if (!isCount(count)) return Effect.dieMessage(`Vault.newSubjects: count must be a non-negative integer, got ${kindOf(count)}`)
        const pool = poolOf(tenant)
        if (pool.keys.length >= count) {
          const taken = pool.keys.splice(0, count)
          const handOut = Effect.map(Clock.currentTimeMillis, (now) =>
            taken.map(([subject, key]) => {
              remember(cacheKey(tenant, subject), key, now)
              return subject
            }))
          return pool.keys.length < pool.ahead ? Effect.zipLeft(handOut, refillAhead(tenant)) : handOut
        }
        return Effect.zipRight(refillNow(tenant, count), newSubjects(tenant, count))
      })
    const prepare = (tenant: TenantId, subjects?: number) =>
      Effect.suspend(() => {
        if (subjects !== undefined && !isCount(subjects)) {
          return Effect.dieMessage(`Vault.prepare: subjects must be a non-negative integer, got ${kindOf(subjects)}`)
        }
        // The tenant's keys too, when no subject key is wanted.
        return refillNow(tenant, subjects ?? poolSize, tenantKeys(tenant))
      }).pipe(Effect.withSpan("Vault.prepare", {
        captureStackTrace: false,
        // Only a count: anything else given there (an address, from a caller without types) is not traced.
        attributes: { tenant: TenantIds.describe(tenant), subjects: subjects !== undefined && isCount(subjects) ? subjects : undefined }
      }))
    // Something that is not an array gives nothing back: its subjects, if any, simply stay unused.
    const releaseSubjects = (tenant: TenantId, subjects: Iterable<SubjectId>) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (!Array.isArray(subjects)) return
        const pool = poolOf(tenant)
        for (const subject of subjects as ReadonlyArray<SubjectId>) {
          const cached = subjectCache.get(cacheKey(tenant, subject))
          if (cached && cached.expires > now) pool.keys.unshift([subject, cached.key])
        }
      })

    const blindIndexWith = (keys: TenantKeys, domain: string, value: string) =>
      createHmac("sha256", keys.blindIndex).update(`${domain}\0${value}`, "utf8").digest("hex")

    const sealWith = (key: KeyObject, tenant: TenantId, subject: SubjectId, purpose: Purpose, plaintext: Uint8Array | string) =>
      Sealed.make(encrypt(
        key,
        typeof plaintext === "string" ? encoder.encode(plaintext) : plaintext,
        fieldAad(tenant, subject, purpose)
      ))

    const sealAll = (
      tenant: TenantId,
      items: ReadonlyArray<{ readonly subject: SubjectId; readonly purpose: Purpose; readonly plaintext: Uint8Array | string }>
    ) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const keys = new Map<SubjectId, KeyObject>()
        const missing = new Map<SubjectId, WrappedKey>()
        let tenantKeysOf: TenantKeys | undefined
        for (const { subject } of items) {
          if (keys.has(subject) || missing.has(subject)) continue
          const cached = subjectCache.get(cacheKey(tenant, subject))
          if (cached && cached.expires > now) {
            keys.set(subject, cached.key)
            continue
          }
          tenantKeysOf ??= yield* tenantKeys(tenant)
          missing.set(subject, {
            wrappedBy: "tenant",
            ciphertext: encrypt(tenantKeysOf.wrapping, randomBytes(32), subjectKeyAad(tenant, subject))
          })
        }
        if (missing.size > 0) {
          const shredsBeforeRead = shreds
          const states = yield* store.createSubjectKeys(tenant, [...missing])
          for (const subject of missing.keys()) {
            const state = states.get(subject)!
            if (state._tag === "Shredded") return yield* shreddedInStore(tenant, subject)
            const raw = decrypt(tenantKeysOf!.wrapping, state.key.ciphertext, subjectKeyAad(tenant, subject))
            if (typeof raw === "string") return yield* new KeyUnavailable({ tenantId: tenant, reason: "unwrap-failed" })
            keys.set(subject, rememberRead(cacheKey(tenant, subject), createSecretKey(Buffer.from(raw)), now, shredsBeforeRead))
          }
        }
        return items.map(({ plaintext, purpose, subject }) => sealWith(keys.get(subject)!, tenant, subject, purpose, plaintext))
      }).pipe(Effect.withSpan("Vault.sealAll", { captureStackTrace: false, attributes: { count: items.length } }))

    return Vault.of({
      seal: (tenant, subject, purpose, plaintext) =>
        checkIds("seal", tenant, [subject]).pipe(
          Effect.zipRight(isPlaintext(plaintext) ? subjectKey(tenant, subject, true) : notPlaintext("seal")),
          Effect.catchTag("SealedValueInvalid", Effect.die),
          Effect.map((key) => sealWith(key, tenant, subject, purpose, plaintext))
        ),
      sealAll: (tenant, items) =>
        Effect.suspend(() =>
          Array.isArray(items)
            ? Effect.zipRight(checkItems("sealAll", tenant, items, true), sealAll(tenant, items))
            : refuseNotAnArray("sealAll")
        ),
      openAll: (tenant, items) =>
        Effect.suspend(() =>
          Array.isArray(items)
            ? Effect.zipRight(checkItems("openAll", tenant, items, false), openAll(tenant, items))
            : refuseNotAnArray("openAll")
        ),
      newSubject: (tenant) =>
        checkIds("newSubject", tenant).pipe(
          Effect.zipRight(newSubjects(tenant, 1)),
          Effect.map((subjects) => subjects[0]!)
        ),
      newSubjects: (tenant, count) => Effect.zipRight(checkIds("newSubjects", tenant), newSubjects(tenant, count)),
      releaseSubjects,
      prepare: (tenant, subjects) => Effect.zipRight(checkIds("prepare", tenant), prepare(tenant, subjects)),
      open: (tenant, subject, purpose, sealed) => Effect.zipRight(checkIds("open", tenant, [subject]), open(tenant, subject, purpose, sealed)),
      openString: (tenant, subject, purpose, sealed) =>
        checkIds("openString", tenant, [subject]).pipe(
          Effect.zipRight(open(tenant, subject, purpose, sealed)),
          Effect.flatMap((bytes) =>
            Effect.try({
              try: () => decoder.decode(bytes),
              catch: () => new SealedValueInvalid({ reason: "malformed" })
            })
          )
        ),
      shred: (tenant, subject) =>
        Effect.zipRight(checkIds("shred", tenant, [subject]), Effect.flatMap(inTransaction, (joined) =>
          Clock.currentTimeMillis.pipe(
            Effect.flatMap((now) => store.shred(tenant, subject, new Date(now))),
            Effect.ensuring(Effect.sync(() => evict(tenant, subject, joined))),
            Effect.asVoid
          ))).pipe(Effect.withSpan("Vault.shred", { captureStackTrace: false })),
      isShredded: (tenant, subject) =>
        checkIds("isShredded", tenant, [subject]).pipe(
          Effect.zipRight(store.subjectKey(tenant, subject)),
          Effect.map((state) => Option.isSome(state) && state.value._tag === "Shredded")
        ),
      shreddedAmong: (tenant, subjects) =>
        !Array.isArray(subjects) ? refuseNotAnArray("shreddedAmong") : Effect.zipRight(checkIds("shreddedAmong", tenant, subjects), subjects.length === 0
          ? Effect.succeed(new Set<SubjectId>())
          : Effect.map(
            keysOf(tenant, subjects),
            (keys) =>
              new Set(
                [...keys].filter(([, key]) => Either.isLeft(key) && key.left._tag === "SubjectShredded").map(([subject]) =>
                  subject
                )
              )
          ).pipe(Effect.withSpan("Vault.shreddedAmong", { captureStackTrace: false, attributes: { count: subjects.length } }))),
      blindIndex: (tenant, domain, value) =>
        checkIds("blindIndex", tenant).pipe(
          Effect.zipRight(checkDomain("blindIndex", domain)),
          Effect.zipRight(tenantKeys(tenant)),
          Effect.map((keys) => blindIndexWith(keys, domain, value))
        ),
      findBlindIndex: (tenant, domain, value) =>
        checkIds("findBlindIndex", tenant).pipe(
          Effect.zipRight(checkDomain("findBlindIndex", domain)),
          Effect.zipRight(existingTenantKeys(tenant)),
          Effect.map(Option.map((keys) => blindIndexWith(keys, domain, value)))
        ),
      rotateMasterKey,
      erasures: (tenant) =>
        Effect.gen(function*() {
          yield* checkIds("erasures", tenant)
          const all: Array<Erasure> = []
          let after: Erasure | undefined = undefined
          while (true) {
            const page: ReadonlyArray<Erasure> = yield* store.erasures(tenant, { after, limit: 1000 })
            all.push(...page)
            if (page.length < 1000) return all
            after = page[page.length - 1]
          }
        }),
      reapplyErasures: (erasures) =>
        Effect.suspend(() => {
          // Every entry checked before any key is destroyed.
          if (typeof (erasures as Partial<Iterable<Erasure>> | null)?.[Symbol.iterator] !== "function") {
            return refuseInput("reapplyErasures", "the erasures given are not a list")
          }
          const all = Array.from(erasures)
          for (const erasure of all) {
            const refused = refusalOfIds(erasure?.tenantId, [erasure?.subjectId])
            if (refused !== undefined) return refuseInput("reapplyErasures", refused)
          }
          return Effect.flatMap(inTransaction, (joined) =>
            Effect.reduce(all, 0, (count, erasure) =>
              store.shred(erasure.tenantId, erasure.subjectId, erasure.shreddedAt).pipe(
                Effect.ensuring(Effect.sync(() => evict(erasure.tenantId, erasure.subjectId, joined))),
                Effect.map((changed) => (changed ? count + 1 : count))
              )))
        }).pipe(Effect.withSpan("Vault.reapplyErasures", { captureStackTrace: false }))
    })
  })

// Once, when the layer is built: a process started on a retired key stops with one line, instead
// of serving until its first new tenant is refused.
const currentKeyInService = Effect.flatMap(
  Effect.all([KeyStore, MasterKeys]),
  ([store, { current }]) => refuseRetired(store, current.id)
)

/**
 * The Vault over the `KeyStore` and `MasterKeys` layers provided to it. Building it reads once
 * whether the current master key is retired, and fails with `MasterKeyRetired` when it is
 * (`Startup.describeFailure` makes it one line naming `LAWFUL_MASTER_KEY`, never the key), or
 * with `KeyStoreError` when the key store cannot answer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (
  options: VaultOptions = {}
): Layer.Layer<Vault, MasterKeyRetired | KeyStoreError, KeyStore | MasterKeys> =>
  Layer.scoped(Vault, Effect.zipRight(currentKeyInService, make(options)))

/**
 * The Vault with default options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Vault, MasterKeyRetired | KeyStoreError, KeyStore | MasterKeys> = layerWith()
