/**
 * Sends each signed checkpoint outside the database. A checkpoint kept only
 * beside the log proves nothing against whoever can rewrite both; published
 * elsewhere (a directory on another volume, a bucket, a witness), it pins the
 * log: a later log that does not extend it is caught.
 *
 * The default writes files: `<dir>/<tenant>/<size>.checkpoint` and
 * `<dir>/<tenant>/latest`, each written to a temporary file and renamed.
 *
 * @since 0.1.0
 */
import type { TenantId } from "@lawful/core/TenantId"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { mkdir, readFile, rename, writeFile } from "node:fs/promises"
import { join } from "node:path"

/**
 * A checkpoint could not be published or read back.
 *
 * @since 0.1.0
 * @category errors
 */
export class CheckpointPublishError extends Schema.TaggedError<CheckpointPublishError>()("CheckpointPublishError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `Checkpoint ${this.operation} failed`
  }
}

/**
 * @since 0.1.0
 * @category services
 */
export class CheckpointPublisher extends Context.Tag("@lawful/audit-trail/CheckpointPublisher")<CheckpointPublisher, {
  readonly publish: (
    tenant: TenantId,
    checkpoint: { readonly size: number; readonly note: string }
  ) => Effect.Effect<void, CheckpointPublishError>
  /** The last checkpoint published for the tenant, as signed-note text. */
  readonly latest: (tenant: TenantId) => Effect.Effect<Option.Option<string>, CheckpointPublishError>
}>() {}

/**
 * Publishes into memory: for tests.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<CheckpointPublisher> = Layer.sync(CheckpointPublisher, () => {
  const published = new Map<TenantId, { size: number; note: string }>()
  return {
    publish: (tenant, checkpoint) =>
      Effect.sync(() => {
        const current = published.get(tenant)
        if (!current || current.size <= checkpoint.size) published.set(tenant, checkpoint)
      }),
    latest: (tenant) => Effect.sync(() => Option.map(Option.fromNullable(published.get(tenant)), (c) => c.note))
  }
})

/**
 * Publishes checkpoints as files under `directory`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDirectory = (directory: string): Layer.Layer<CheckpointPublisher> =>
  Layer.succeed(CheckpointPublisher, {
    publish: (tenant, { note, size }) =>
      Effect.tryPromise({
        try: async () => {
          const dir = join(directory, tenant)
          await mkdir(dir, { recursive: true })
          const write = async (name: string) => {
            const partial = join(dir, `.${name}.${randomUUID()}`)
            await writeFile(partial, note, { encoding: "utf8", flag: "wx" })
            await rename(partial, join(dir, name))
          }
          await write(`${String(size).padStart(16, "0")}.checkpoint`)
          const latest = await readFile(join(dir, "latest"), "utf8").catch(() => undefined)
          const latestSize = latest === undefined ? -1 : Number(latest.split("\n")[1])
          if (latestSize <= size) await write("latest")
        },
        catch: (cause) => new CheckpointPublishError({ operation: "publish", cause })
      }).pipe(Effect.withSpan("CheckpointPublisher.publish")),
    latest: (tenant) =>
      Effect.tryPromise({
        try: () =>
          readFile(join(directory, tenant, "latest"), "utf8").then(
            (text) => Option.some(text),
            (error: NodeJS.ErrnoException) => {
              if (error.code === "ENOENT") return Option.none<string>()
              throw error
            }
          ),
        catch: (cause) => new CheckpointPublishError({ operation: "read", cause })
      })
  })

/**
 * `LAWFUL_CHECKPOINT_DIR`, default `./.lawful/checkpoints`. Put it on
 * storage the database's operators cannot rewrite.
 *
 * @since 0.1.0
 * @category config
 */
export const directoryConfig: Config.Config<string> = Config.string("LAWFUL_CHECKPOINT_DIR").pipe(
  Config.withDefault("./.lawful/checkpoints")
)

/**
 * Publishes into the directory from `LAWFUL_CHECKPOINT_DIR`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = Layer.unwrapEffect(Effect.map(directoryConfig, layerDirectory))
