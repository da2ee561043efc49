// The lock that keeps a PGlite data directory to one client at a time, across processes.
//
// The lock is a directory, `lawful-pglite.lock.d`, holding one file named for its holder:
// `<process id>.<random id>`, its process id inside. It is taken by building a directory with
// the holder's entry beside it (the staging directory `lawful-pglite.lock.d.<process id>.<random
// id>`) and renaming that onto the lock: rename(2) of a directory replaces a missing or empty one
// and fails (ENOTEMPTY or EEXIST) on one that holds an entry, atomically, so one process at a
// time gets in, and the lock names its holder from the moment it exists.
//
// A lock whose holder is gone (its process is not running, or it names this process's id but
// this process does not hold it: an earlier process with the same id) is stale. It is taken over
// by unlinking the stale holder's entry, by its name, which no other holder has, then renaming
// again. Of processes that judged the same lock stale, whichever renames first gets it; the
// others' unlinks find the stale entry gone (never touching the new holder's) and their renames
// fail on the new holder's entry. Removing a lock file and creating it again, as earlier versions
// did, let a process that had judged it stale remove the lock another process had just taken.
//
// A process killed while taking the lock leaves its staging directory. The holder removes those
// of processes that are not running (or that are older than any taking of the lock lasts: their
// process id has been given to another process since). A live taker's is left to it; and were
// one removed, its rename could not get in, as the lock holds the holder's entry meanwhile.
//
// The lock file of earlier versions, `lawful-pglite.lock` (a process id), is taken too, as those
// versions take it: created only where there is none, so that a client of an earlier version
// starting at the same time finds it, or this one finds theirs. It is created as a hard link to
// the holder's entry, so it never exists without the process id in it. A file naming another
// running process, or empty and new (an earlier client between creating it and writing its id),
// refuses the directory; a file naming a process that is gone, or empty and old, is stale and
// replaced. Only the holder of the directory writes or removes it. Over a stale file, races with
// earlier clients are left, both ways, as they were between two clients of an earlier version: an
// earlier client removes the file it judged stale unconditionally, which may by then be this
// client's; and this client does the same to them (`takeFile` reads the stale id, then unlinks the
// file by name without reading it again, which may by then be an earlier client's new one). Either
// way both clients may open the directory (see the README's rule for upgrades). (It stays a file:
// PGlite's `dumpDataDir` takes it with the data, and loading a dump made by an earlier version
// writes it back as a file.)
//
// Releasing removes the file, the holder's entry (and any copied in with the data, see the
// release), then the lock if it is still empty. The file is removed by name, without checking that
// it is still this holder's: after one of those races (or a removal by hand) it may be an earlier
// client's, whose lock is then gone. Sound on a local Linux or macOS file system; not on Windows,
// where rename does not replace a directory, nor on network file systems.
import * as fs from "node:fs"
import { randomUUID } from "node:crypto"
import { join, resolve } from "node:path"

export const lockDirName = "lawful-pglite.lock.d"
export const lockFileName = "lawful-pglite.lock"

export type LockFs = Pick<
  typeof fs,
  | "mkdirSync"
  | "writeFileSync"
  | "renameSync"
  | "readdirSync"
  | "readFileSync"
  | "unlinkSync"
  | "rmdirSync"
  | "linkSync"
  | "statSync"
>

// What a process sees: its id, which other processes run, the lock entries it holds, the file
// system and the time (milliseconds since the epoch, as file times are; tests simulate several
// processes in one).
export interface LockProcess {
  readonly pid: number
  readonly isRunning: (pid: number) => boolean
  readonly held: Set<string>
  readonly fs: LockFs
  readonly now: () => number
}

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

// The time is the system's wall clock, not Effect's `Clock`: it is only compared with file times
// (`mtimeMs`), which the operating system stamps, and which a `TestClock` does not move. Tests that
// need another time give a `LockProcess` of their own.
export const thisProcess: LockProcess = { pid: process.pid, isRunning, held: new Set(), fs, now: Date.now }

/** The directory is open in a client of a running process. */
export class LockHeld extends Error {}

const code = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code

const ignoring = (codes: ReadonlyArray<string>, f: () => void): void => {
  try {
    f()
  } catch (error) {
    if (!codes.includes(code(error) ?? "")) throw error
  }
}

// Each failed turn finds a stale holder to clear or the lock changed hands; only a lock taken
// and released again and again while this process looks uses them all up.
const maxAttempts = 100

// Taking the lock lasts milliseconds, and an earlier client writes its id into the file it has
// just created at once: a staging directory, or an empty lock file, this old belongs to no
// process taking the lock.
const abandonedAfterMs = 60_000

const stagingName = /^lawful-pglite\.lock\.d\.(\d+)\.[0-9a-f-]+$/

/** Takes the lock on `dir` (which exists), or throws `LockHeld`; returns its release. */
export const acquire = (dir: string, proc: LockProcess = thisProcess): () => void => {
  const { fs } = proc
  const path = resolve(dir, lockDirName)
  const file = resolve(dir, lockFileName)
  const name = `${proc.pid}.${randomUUID()}`
  const candidate = `${path}.${name}`
  const entry = join(path, name)
  // A running process other than this one: a lock naming this process's id that it does not
  // hold was left by an earlier process with that id.
  const running = (pid: number) => Number.isInteger(pid) && pid > 0 && pid !== proc.pid && proc.isRunning(pid)
  const refuse = (holder: number | undefined, lock: string) =>
    new LockHeld(
      `${dir} is ${holder === undefined ? "being opened by" : "open in"} another PgliteClient` +
        `${holder === undefined ? "" : ` (process ${holder})`}; ${lock} holds its lock ` +
        "(remove it only if no process has the directory open)"
    )
  const abandoned = (at: string) => proc.now() - fs.statSync(at).mtimeMs > abandonedAfterMs

  fs.mkdirSync(candidate)
  let taken = false
  try {
    fs.writeFileSync(join(candidate, name), String(proc.pid))
    for (let attempt = 0; attempt < maxAttempts && !taken; attempt++) {
      try {
        fs.renameSync(candidate, path)
        taken = true
      } catch (error) {
        if (code(error) !== "ENOTEMPTY" && code(error) !== "EEXIST") throw error
        let holders: ReadonlyArray<string>
        try {
          holders = fs.readdirSync(path)
        } catch (error) {
          // Released since the rename: try again.
          if (code(error) === "ENOENT") continue
          throw error
        }
        for (const holder of holders) {
          const pid = Number.parseInt(holder, 10)
          if (running(pid) || proc.held.has(join(path, holder))) throw refuse(pid, path)
        }
        for (const holder of holders) ignoring(["ENOENT"], () => fs.unlinkSync(join(path, holder)))
      }
    }
  } finally {
    if (!taken) {
      ignoring(["ENOENT"], () => fs.unlinkSync(join(candidate, name)))
      ignoring(["ENOENT"], () => fs.rmdirSync(candidate))
    }
  }
  if (!taken) throw new Error(`${path}: the lock changed hands ${maxAttempts} times while this process tried to take it`)
  proc.held.add(entry)

  const release = (withFile: boolean) => {
    proc.held.delete(entry)
    try {
      // While its entry is in the lock no other process gets in: any other entry was copied in
      // with the data (a dump, which holds the lock of the directory it was made from, loaded
      // into this one) and goes with it.
      const entries = fs.readdirSync(path)
      if (!entries.includes(name)) return
      if (withFile) ignoring(["ENOENT"], () => fs.unlinkSync(file))
      for (const other of entries) if (other !== name) fs.unlinkSync(join(path, other))
      fs.unlinkSync(entry)
      fs.rmdirSync(path)
    } catch {
      // Gone already, or taken by another process since (after being removed by hand): left to
      // its holder.
    }
  }
  // The earlier versions' lock file, created only where there is none, as they create it.
  const takeFile = () => {
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      try {
        fs.linkSync(entry, file)
        return
      } catch (error) {
        if (code(error) !== "EEXIST") throw error
      }
      let content: string
      try {
        content = fs.readFileSync(file, "utf8")
      } catch (error) {
        if (code(error) === "ENOENT") continue
        throw error
      }
      const earlier = Number.parseInt(content, 10)
      if (running(earlier)) throw refuse(earlier, file)
      // Empty and new: an earlier client between creating it and writing its id.
      let beingWritten: boolean
      try {
        beingWritten = content === "" && !abandoned(file)
      } catch (error) {
        if (code(error) === "ENOENT") continue
        throw error
      }
      if (beingWritten) throw refuse(undefined, file)
      ignoring(["ENOENT"], () => fs.unlinkSync(file))
    }
    throw new Error(`${file}: the lock changed hands ${maxAttempts} times while this process tried to take it`)
  }
  // Staging directories of processes killed while taking the lock; never fails the opening.
  const removeAbandonedStaging = () => {
    try {
      for (const other of fs.readdirSync(dir)) {
        const pid = stagingName.exec(other)?.[1]
        if (pid === undefined) continue
        const staging = resolve(dir, other)
        try {
          if (running(Number(pid)) && !abandoned(staging)) continue
          for (const leftover of fs.readdirSync(staging)) fs.unlinkSync(join(staging, leftover))
          fs.rmdirSync(staging)
        } catch {
          // Gone already, or not one to remove: left as it is.
        }
      }
    } catch {
      // The directory cannot be read: nothing is removed.
    }
  }
  try {
    takeFile()
  } catch (error) {
    release(false)
    throw error
  }
  removeAbandonedStaging()
  return () => release(true)
}
