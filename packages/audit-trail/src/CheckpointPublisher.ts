/**
 * Sends each signed checkpoint outside the database. A checkpoint kept only
 * beside the log proves nothing against whoever can rewrite both; published
 * elsewhere (a directory on another volume, a bucket, a witness), it pins the
 * log: a later log that does not extend it is caught.
 *
 * The default writes files: `<dir>/<tenant>/<size>.checkpoint` and
 * `<dir>/<tenant>/latest`, each written to a temporary file and moved in
 * whole (on a volume without hard links, a checkpoint's file is created in
 * place, exclusively); a checkpoint's file is never replaced and `latest` only
 * ever moves forward (see `layerDirectory`).
 *
 * A publisher also lists the tenants it holds (`tenants`): `AuditLog.verifyAll`
 * verifies them too, so a tenant whose every row was deleted from the
 * database is still reported, against its published checkpoint. A publisher
 * that wraps another passes its `tenants` on (`{ ...inner, publish }`).
 *
 * @since 0.1.0
 */
import * as Database from "@lawful/core/Database"
import * as TenantIds from "@lawful/core/TenantId"
import type { TenantId } from "@lawful/core/TenantId"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { link, mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises"
import { dirname, join, resolve } from "node:path"

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
  /**
   * Publishes a signed note of the tenant's log; `size` is the tree size the note states. The
   * layers of this module refuse a size that is not the note's and a tenant id that is not a
   * lower-case UUID, before anything is written.
   */
  readonly publish: (
    tenant: TenantId,
    checkpoint: { readonly size: number; readonly note: string }
  ) => Effect.Effect<void, CheckpointPublishError>
  /**
   * The last checkpoint published for the tenant, as signed-note text, read back as stored: whoever
   * can write where it is kept could put another note there, so the `AuditLog` verifies its
   * signature and that its origin is the tenant's log.
   */
  readonly latest: (tenant: TenantId) => Effect.Effect<Option.Option<string>, CheckpointPublishError>
  /**
   * The tenants this publisher holds checkpoints for, whatever the database says: `AuditLog.verifyAll`
   * verifies them besides the tenants the `AuditStore` lists, so a tenant whose every row was deleted
   * from the database (its state, entries and stored checkpoints) is still reported, as a log that
   * stops short of its published checkpoint. A publisher that wraps another passes its `tenants` on
   * (`{ ...inner, publish }`). One that cannot list (one that posts to a transparency service, say)
   * says so with `Effect.succeed([])`: `verifyAll` then covers only the tenants the database lists,
   * and a tenant whose every row was deleted is found only by `verify(tenant)` called by name. A
   * publisher without `tenants` (an untyped wrapper that dropped it) fails `verifyAll`
   * (`CheckpointPublishError`, operation `list`) rather than leave those tenants out unseen.
   */
  readonly tenants: Effect.Effect<ReadonlyArray<TenantId>, CheckpointPublishError>
}>() {}

// The tree size a signed note states (its second line); NaN if it states none.
const sizeOfNote = (note: string): number => {
  const line = note.split("\n")[1] ?? ""
  return /^(0|[1-9][0-9]*)$/.test(line) ? Number(line) : Number.NaN
}

// Why a publication is refused before anything is written, if it is: a tenant id that is not a
// lower-case UUID (a path could leave the directory, or reach another tenant's), or a size that is
// not the one its note states (`latest` would move back, and the size's file would hold another note).
const refusal = (tenant: TenantId, checkpoint: { readonly size: number; readonly note: string }): Error | undefined =>
  !TenantIds.is(tenant)
    ? new Error("the tenant id is not a lower-case UUID")
    : typeof checkpoint.note !== "string" || !Number.isSafeInteger(checkpoint.size) || checkpoint.size < 0 ||
        sizeOfNote(checkpoint.note) !== checkpoint.size
    ? new Error("the size of a publication must be the tree size its note states")
    : undefined

const refuse = (operation: string, cause: Error) => Effect.fail(new CheckpointPublishError({ operation, cause }))

/**
 * Publishes into memory: for tests. It keeps the directory's rules: a publication whose size is not
 * its note's, or for a tenant id that is not a lower-case UUID, is refused; another checkpoint of a
 * size already published is refused; `latest` only moves forward. `tenants` lists the tenants it
 * has published for.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<CheckpointPublisher> = Layer.sync(CheckpointPublisher, () => {
  const published = new Map<TenantId, { readonly bySize: Map<number, string>; latest: number }>()
  return {
    publish: (tenant, checkpoint) =>
      Effect.suspend(() => {
        const refused = refusal(tenant, checkpoint)
        if (refused !== undefined) return refuse("publish", refused)
        let log = published.get(tenant)
        if (log === undefined) {
          log = { bySize: new Map(), latest: checkpoint.size }
          published.set(tenant, log)
        }
        const existing = log.bySize.get(checkpoint.size)
        if (existing !== undefined && existing !== checkpoint.note) {
          return refuse("publish", new Error(`another checkpoint of size ${checkpoint.size} is already published`))
        }
        log.bySize.set(checkpoint.size, checkpoint.note)
        log.latest = Math.max(log.latest, checkpoint.size)
        return Effect.void
      }),
    latest: (tenant) =>
      Effect.suspend(() => {
        if (!TenantIds.is(tenant)) return refuse("read", new Error("the tenant id is not a lower-case UUID"))
        const log = published.get(tenant)
        return Effect.succeed(log === undefined ? Option.none() : Option.fromNullable(log.bySize.get(log.latest)))
      }),
    tenants: Effect.sync(() => [...published.keys()].sort())
  }
})

const readIfExists = (path: string): Promise<string | undefined> =>
  readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return undefined
    throw error
  })

// Makes the directory's entries (a file linked, renamed or made in it) durable: a publication that
// returned survives a crash of the machine.
const syncDirectory = async (path: string) => {
  const handle = await open(path, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

// A file system without hard links (some network and FAT volumes) refuses `link` with one of these.
// EPERM says so on some (FAT on Linux) but also means other things (a security module, a file held
// by another program), so only the others mark a directory as one without hard links for good.
const noHardLinks = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"])
const noHardLinksForGood = new Set(["ENOTSUP", "EOPNOTSUPP", "ENOSYS"])

// How many times `latest` is written again after another process moved it back meanwhile.
const latestAttempts = 8

// One publication at a time per directory and tenant in this process, whichever layer publishes:
// the semaphore of each (directory, tenant) in use, dropped when its last user is done.
const locks = new Map<string, { readonly semaphore: Effect.Semaphore; users: number }>()

const withLock = (key: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      let lock = locks.get(key)
      if (lock === undefined) {
        lock = { semaphore: Effect.unsafeMakeSemaphore(1), users: 0 }
        locks.set(key, lock)
      }
      lock.users++
      return lock
    }),
    (lock) => lock.semaphore.withPermits(1)(effect),
    (lock) =>
      Effect.sync(() => {
        lock.users--
        if (lock.users === 0) locks.delete(key)
      })
  )

// The subdirectories of `directory` named by a tenant id (links to directories too, as `latest` follows them).
const listTenants = async (directory: string): Promise<ReadonlyArray<TenantId>> => {
  const entries = await readdir(directory, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return []
    throw error
  })
  const tenants: Array<TenantId> = []
  for (const entry of entries) {
    if (!TenantIds.is(entry.name)) continue
    const isDirectory = entry.isDirectory() ||
      (entry.isSymbolicLink() && await stat(join(directory, entry.name)).then((target) => target.isDirectory(), () => false))
    if (isDirectory) tenants.push(entry.name)
  }
  return tenants.sort()
}

/**
 * Publishes checkpoints as files under `directory`: `<tenant>/<size>.checkpoint`
 * (16 digits) for each, and `<tenant>/latest`, the largest published.
 *
 * A checkpoint's file is written once: publishing the same checkpoint again
 * changes nothing, and another checkpoint of a size already published is
 * refused (`CheckpointPublishError`), so a rewritten log cannot replace the
 * checkpoint that pins it. `latest` only moves forward: a publication smaller
 * than it, or of its size, leaves it as it is, and a `latest` that states no
 * tree size is never replaced (it is left for an operator to look at).
 * Publications of one directory and tenant take turns in the process; across
 * processes each file is written to a temporary file and moved in whole (a
 * checkpoint's file is hard-linked, so it cannot replace another), and `latest`
 * is read again after its rename and written again if another process moved it
 * back meanwhile: once the publications have returned it holds the largest,
 * though a reader may meanwhile see it behind for a moment. Each file is synced
 * to disk before it is moved in, and the directory after: a publication that
 * returned survives a crash of the machine, and a crash during one leaves each
 * file whole or absent.
 *
 * Where the file system has no hard links (some network and FAT volumes), a
 * checkpoint's file is instead created under its own name, exclusively, then
 * written and synced, and the directory after (once a link has been refused in
 * a tenant's directory as not supported, `ENOTSUP`, `EOPNOTSUPP` or `ENOSYS`, the
 * layer tries no more there; after an `EPERM`, which may have other causes, the
 * next publication tries a link again): of processes publishing
 * one size at once, one creates it and the others are refused unless their note
 * is the one it holds. There, a crash while that file is written can leave it
 * short (a publication of its size is then refused until an operator removes
 * it), and a publication of the same note as one still being written in another
 * process may be refused (published again, it succeeds). `latest` is moved in
 * whole as everywhere.
 *
 * A publication is refused before anything is written when its `size` is not the
 * tree size its note states (`latest` would move back, and the size's file would
 * hold another size's note), or when the tenant id is not a lower-case UUID.
 *
 * `latest` reads `<tenant>/latest` and nothing else: tenant ids are checked to be
 * lower-case UUIDs (the type alone does not stop a cast string such as `../x`),
 * so no path leaves the directory or reaches another tenant's. The file's content is read
 * back as it is; a note copied there from another tenant's directory is
 * refused by the `AuditLog`, which checks each note's origin, and it stays
 * until an operator replaces it.
 *
 * `tenants` lists the subdirectories of `directory` (or links to directories)
 * whose names are tenant ids, lower-case UUIDs, whether or not they hold a
 * checkpoint yet; anything else there is ignored. A directory not made yet
 * holds none.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDirectory = (directory: string): Layer.Layer<CheckpointPublisher> => {
  // The tenants' directories (each may be a link to another volume) where a link was refused as
  // on a volume without hard links (not by EPERM alone).
  const unlinkable = new Set<string>()
  return Layer.succeed(CheckpointPublisher, {
    publish: (tenant, { note, size }) =>
      Effect.suspend(() => {
        const refused = refusal(tenant, { note, size })
        if (refused !== undefined) return refuse("publish", refused)
        return Effect.tryPromise({
          try: async () => {
            const dir = join(directory, tenant)
            // The directories made for the first publication, each durable in its parent.
            const made = await mkdir(dir, { recursive: true })
            if (made !== undefined) {
              const first = resolve(made)
              for (let path = resolve(dir); path.startsWith(first); path = dirname(path)) {
                await syncDirectory(dirname(path))
              }
            }
            // A new file holding the note, created exclusively (fails with EEXIST where there is
            // one) and on disk when it returns; removed if writing it fails.
            const writeNew = async (path: string) => {
              const handle = await open(path, "wx")
              try {
                try {
                  await handle.writeFile(note, "utf8")
                  await handle.sync()
                } finally {
                  await handle.close()
                }
              } catch (error) {
                await rm(path, { force: true })
                throw error
              }
            }

            // On disk before it is linked or renamed into place: a crash then leaves the file whole
            // or absent, never empty.
            const partial = async () => {
              const path = join(dir, `.${randomUUID()}.partial`)
              await writeNew(path)
              return path
            }

            // Linked in whole where it is absent, never replaced; false where the link was refused
            // as on a volume without hard links (the directory remembered, but for EPERM).
            const linkNew = async (path: string): Promise<boolean> => {
              const written = await partial()
              try {
                await link(written, path)
                return true
              } catch (error) {
                const code = (error as NodeJS.ErrnoException).code ?? ""
                if (code === "EEXIST") return true
                if (noHardLinksForGood.has(code)) unlinkable.add(dir)
                if (noHardLinks.has(code)) return false
                throw error
              } finally {
                await rm(written, { force: true })
              }
            }

            // Without hard links, created under its own name, exclusively: of two processes
            // publishing one size, one creates it and the other finds it (a check and then a rename
            // would let both move theirs in).
            const createNew = (path: string) =>
              writeNew(path).catch((error: NodeJS.ErrnoException) => {
                if (error.code !== "EEXIST") throw error
              })

            // The checkpoint's own file. Once the directory is known to have no hard links, no link
            // is tried there; after an EPERM, the next publication tries again.
            const file = join(dir, `${String(size).padStart(16, "0")}.checkpoint`)
            if (unlinkable.has(dir) || !await linkNew(file)) await createNew(file)
            if (await readFile(file, "utf8") !== note) {
              throw new Error(`another checkpoint of size ${size} is already published`)
            }
            // The link (or the file created) itself, durable before `latest` names the checkpoint.
            await syncDirectory(dir)

            // `latest`, moved forward only, and read again after each rename.
            const latest = join(dir, "latest")
            for (let attempt = 0;; attempt++) {
              const current = await readIfExists(latest)
              if (current !== undefined && !(sizeOfNote(current) < size)) return
              if (attempt === latestAttempts) throw new Error(`latest was moved back below size ${size} at each attempt`)
              const written = await partial()
              await rename(written, latest).catch(async (error) => {
                await rm(written, { force: true })
                throw error
              })
              await syncDirectory(dir)
            }
          },
          catch: (cause) => new CheckpointPublishError({ operation: "publish", cause })
        }).pipe(withLock(JSON.stringify([resolve(directory), tenant])))
      }).pipe(Effect.withSpan("CheckpointPublisher.publish")),
    latest: (tenant) =>
      TenantIds.is(tenant)
        ? Effect.tryPromise({
          try: () => readIfExists(join(directory, tenant, "latest")).then(Option.fromNullable),
          catch: (cause) => new CheckpointPublishError({ operation: "read", cause })
        })
        : refuse("read", new Error("the tenant id is not a lower-case UUID")),
    tenants: Effect.tryPromise({
      try: () => listTenants(directory),
      catch: (cause) => new CheckpointPublishError({ operation: "list", cause })
    }).pipe(Effect.withSpan("CheckpointPublisher.tenants"))
  })
}

/**
 * `LAWFUL_CHECKPOINT_DIR`; when it is not set, `checkpoints` in the database's
 * directory, `LAWFUL_DATA_DIR` as `Database.dataDir` of `@lawful/core` reads it
 * (so `./.lawful/checkpoints` when neither is set, and a `LAWFUL_DATA_DIR` set but
 * blank is refused as the database refuses it). `LAWFUL_CHECKPOINT_DIR` set but
 * blank is refused too: the tenants' directories would be made in the working
 * directory. A `LAWFUL_DATA_DIR` given as a `file://` URL leads to its directory;
 * one of another scheme (`memory://`, `idb://`) names none here, and is refused
 * unless `LAWFUL_CHECKPOINT_DIR` is set. Put it on storage the database's operators cannot rewrite.
 *
 * @since 0.1.0
 * @category config
 */
export const directoryConfig: Config.Config<string> = Config.string("LAWFUL_CHECKPOINT_DIR").pipe(
  Config.validate({
    message: "LAWFUL_CHECKPOINT_DIR must be the path of a directory, such as /var/lib/lawful/checkpoints " +
      "(when it is not set, checkpoints in LAWFUL_DATA_DIR)",
    validation: (directory) => directory.trim().length > 0
  }),
  Config.orElseIf({
    if: ConfigError.isMissingDataOnly,
    orElse: () =>
      Config.mapOrFail(Database.dataDir, (dataDir) => {
        // A `file://` URL leads to its directory; another scheme (`memory://`) names none here.
        const directory = Database.localDirectory(dataDir)
        return directory === undefined
          ? Either.left(ConfigError.InvalidData(
            [],
            "LAWFUL_DATA_DIR names no directory on this machine, so checkpoints cannot go in it: " +
              "set LAWFUL_CHECKPOINT_DIR to the path of a directory"
          ))
          : Either.right(join(directory, "checkpoints"))
      })
  })
)

/**
 * Publishes into the directory from {@link directoryConfig}: `LAWFUL_CHECKPOINT_DIR`, else
 * `checkpoints` in `LAWFUL_DATA_DIR`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = Layer.unwrapEffect(Effect.map(directoryConfig, layerDirectory))
