/**
 * The master key: the root of the Vault's key hierarchy, from configuration.
 *
 * `LAWFUL_MASTER_KEY` holds the current key, 32 random bytes in base64
 * (`openssl rand -base64 32`). During a rotation, `LAWFUL_MASTER_KEY_PREVIOUS`
 * holds the keys being retired (comma-separated, same form) until
 * `Vault.rotateMasterKey` has re-wrapped every tenant key; that completed
 * rotation retires them (by id). A retired key wraps nothing new: the Vault's
 * layer does not build with it as current (start-up stops with one line naming
 * `LAWFUL_MASTER_KEY`), a Vault already running when its key is retired makes
 * no new tenant key, and `rotateMasterKey` refuses to run on it, each failing
 * with `Vault.MasterKeyRetired` (see docs/operations.md).
 * Set to nothing, or only blanks, it holds no key, as when it is not set.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as ConfigError from "effect/ConfigError"
import { createHash, createSecretKey, randomBytes } from "node:crypto"
import type { KeyObject } from "node:crypto"

/**
 * One master key and its id (a fingerprint that reveals nothing of the key).
 *
 * @since 0.1.0
 * @category models
 */
export interface MasterKey {
  readonly id: string
  readonly key: KeyObject
}

/**
 * The current master key, with the previous ones still accepted for unwrapping.
 *
 * @since 0.1.0
 * @category models
 */
export interface MasterKeyring {
  readonly current: MasterKey
  readonly previous: ReadonlyArray<MasterKey>
}

/**
 * @since 0.1.0
 * @category services
 */
export class MasterKeys extends Context.Tag("@lawful/core/MasterKeys")<MasterKeys, MasterKeyring>() {}

const expectedForm = "32 random bytes in base64, e.g. the output of `openssl rand -base64 32`"

const decodeKey = (encoded: string): Uint8Array | undefined => {
  const trimmed = encoded.trim()
  if (!/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) return undefined
  const bytes = Buffer.from(trimmed, "base64")
  return bytes.length === 32 ? bytes : undefined
}

/**
 * A master key from its 32 bytes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBytes = (bytes: Uint8Array): MasterKey => ({
  id: createHash("sha256").update("lawful/v1/master-key-id\0").update(bytes).digest("hex").slice(0, 16),
  key: createSecretKey(Buffer.from(bytes))
})

/**
 * A new random master key, as the base64 text `LAWFUL_MASTER_KEY` expects.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = (): Redacted.Redacted<string> => Redacted.make(randomBytes(32).toString("base64"))

// A missing key fails validation too, so the message always says what is expected.
const keyConfig = (name: string) =>
  Config.redacted(name).pipe(
    Config.withDefault(Redacted.make("")),
    Config.validate({
      message: `${name} must be ${expectedForm}`,
      validation: (value) => decodeKey(Redacted.value(value)) !== undefined
    }),
    Config.map((value) => fromBytes(decodeKey(Redacted.value(value))!))
  )

/**
 * The keyring from `LAWFUL_MASTER_KEY` and `LAWFUL_MASTER_KEY_PREVIOUS`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<MasterKeyring> = Config.all({
  current: keyConfig("LAWFUL_MASTER_KEY"),
  // Set to nothing (or only blanks), as deployments unset a variable, it holds no key: as if not
  // set. A list with an empty item is refused, as a template that lost a key would leave it.
  previous: Config.redacted("LAWFUL_MASTER_KEY_PREVIOUS").pipe(
    Config.map((value) => Redacted.value(value).trim() === "" ? [] : Redacted.value(value).split(",")),
    Config.validate({
      message: `LAWFUL_MASTER_KEY_PREVIOUS must be ${expectedForm}; several keys are separated by commas`,
      validation: (parts) => parts.every((part) => decodeKey(part) !== undefined)
    }),
    Config.map((parts): ReadonlyArray<MasterKey> => parts.map((part) => fromBytes(decodeKey(part)!))),
    Config.withDefault([] as ReadonlyArray<MasterKey>)
  )
})

/**
 * The keyring read from configuration.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<MasterKeys, ConfigError.ConfigError> = Layer.effect(MasterKeys, config)

/**
 * A keyring from the given base64 keys, the first current.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  current: Redacted.Redacted<string>,
  ...previous: ReadonlyArray<Redacted.Redacted<string>>
): Layer.Layer<MasterKeys> =>
  Layer.effect(
    MasterKeys,
    Effect.sync(() => {
      const decode = (value: Redacted.Redacted<string>) => {
        const bytes = decodeKey(Redacted.value(value))
        if (bytes === undefined) throw new Error(`A master key must be ${expectedForm}`)
        return fromBytes(bytes)
      }
      return { current: decode(current), previous: previous.map(decode) }
    })
  )

/**
 * A keyring with a new random key, for tests and throw-away databases.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRandom: Layer.Layer<MasterKeys> = Layer.sync(MasterKeys, () => ({
  current: fromBytes(randomBytes(32)),
  previous: []
}))
