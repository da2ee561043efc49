import * as Layer from "effect/Layer"
import type * as KeyStore from "../src/KeyStore.js"
import * as MasterKey from "../src/MasterKey.js"
import type * as SubjectDirectory from "../src/SubjectDirectory.js"
import * as Vault from "../src/Vault.js"

/** A directory layer over a Vault on `store` with a random master key, the Vault in its output too. */
export const withVault = <E1, R1, E2, R2>(
  directory: Layer.Layer<SubjectDirectory.SubjectDirectory, E1, R1 | Vault.Vault>,
  store: Layer.Layer<KeyStore.KeyStore, E2, R2>
) =>
  directory.pipe(
    Layer.provideMerge(Vault.layer),
    Layer.provide(store),
    Layer.provide(MasterKey.layerRandom)
  )
