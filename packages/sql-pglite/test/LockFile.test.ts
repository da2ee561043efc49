import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type ChildProcess, fork } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as LockFile from "../src/internal/lockFile.js"

// Processes simulated in this one: each has its own id and its own set of held locks, and
// sees the processes named live as running. A lock is left stale by a process that acquires it
// and never releases it (as one that crashed).
const live = new Set([1001, 1002, 1003])
const dead = 1004
const simulated = (pid: number, filesystem: LockFile.LockFs = fs): LockFile.LockProcess => ({
  pid,
  isRunning: (other) => live.has(other),
  held: new Set(),
  fs: filesystem,
  now: Date.now
})

// A filesystem that calls `before(n)` before its n-th operation (counted from 0).
const counting = (before: (n: number) => void) => {
  let n = 0
  const counted = new Proxy(fs, {
    get: (target, key) => {
      const value = Reflect.get(target, key)
      return typeof value === "function"
        ? (...args: Array<unknown>) => {
          before(n++)
          return Reflect.apply(value, target, args)
        }
        : value
    }
  })
  return { fs: counted as typeof fs, count: () => n }
}

type Outcome = { readonly held: true; readonly release: () => void } | { readonly held: false; readonly error: unknown }

const attempt = (dir: string, proc: LockFile.LockProcess): Outcome => {
  try {
    return { held: true, release: LockFile.acquire(dir, proc) }
  } catch (error) {
    return { held: false, error }
  }
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(join(tmpdir(), "lawful-pglite-lock-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

// What a directory can hold when two processes race for it.
const initial: ReadonlyArray<readonly [string, (dir: string) => void]> = [
  ["no lock", () => {}],
  ["a lock left by a process that is gone", (dir) => void LockFile.acquire(dir, simulated(dead))],
  ["a lock left by an earlier process with A's id", (dir) => void LockFile.acquire(dir, simulated(1001))]
]

describe("LockFile", () => {
  for (const [state, setUp] of initial) {
    it.effect(`two processes racing for a directory with ${state}: exactly one holds it, whatever the interleaving`, () =>
      Effect.gen(function*() {
        // A alone, to count its filesystem operations.
        const alone = yield* tempDir
        setUp(alone)
        const solo = counting(() => {})
        const first = attempt(alone, simulated(1001, solo.fs))
        assert.isTrue(first.held)
        const steps = solo.count()
        // B runs whole before each of A's steps in turn.
        for (let step = 0; step <= steps; step++) {
          const dir = yield* tempDir
          setUp(dir)
          let b: Outcome | undefined
          const a = attempt(
            dir,
            simulated(1001, counting((n) => {
              if (n === step) b = attempt(dir, simulated(1002))
            }).fs)
          )
          b ??= attempt(dir, simulated(1002))
          const holders = [a, b].filter((o) => o.held).length
          assert.strictEqual(holders, 1, `B before A's step ${step} of ${steps}: ${holders} processes hold the lock`)
          const loser = (a.held ? b : a) as Outcome & { held: false }
          assert.instanceOf(loser.error, LockFile.LockHeld)
          assert.include(String(loser.error), dir)
          // A third process is refused too, then gets the lock once its holder releases it.
          const third = simulated(1003)
          assert.isFalse(attempt(dir, third).held)
          ;(a.held ? a : b as Outcome & { held: true }).release()
          const after = attempt(dir, third)
          assert.isTrue(after.held)
          ;(after as Outcome & { held: true }).release()
        }
      }).pipe(Effect.scoped))
  }
})

describe("LockFile, three processes", () => {
  it.effect("three processes racing for a stale lock, each interrupted by the next at any step: exactly one holds it", () =>
    Effect.gen(function*() {
      const setUp = (dir: string) => void LockFile.acquire(dir, simulated(dead))
      const stepsOf = (pid: number) =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          setUp(dir)
          const solo = counting(() => {})
          assert.isTrue(attempt(dir, simulated(pid, solo.fs)).held)
          return solo.count()
        })
      const stepsA = yield* stepsOf(1001)
      const stepsB = yield* stepsOf(1002)
      for (let i = 0; i <= stepsA; i++) {
        for (let j = 0; j <= stepsB; j++) {
          const dir = yield* tempDir
          setUp(dir)
          let b: Outcome | undefined
          let c: Outcome | undefined
          const runC = () => (c = attempt(dir, simulated(1003)))
          const runB = () =>
            (b = attempt(dir, simulated(1002, counting((n) => {
              if (n === j) runC()
            }).fs)))
          const a = attempt(dir, simulated(1001, counting((n) => {
            if (n === i) runB()
          }).fs))
          if (b === undefined) runB()
          if (c === undefined) runC()
          const outcomes = [a, b!, c!]
          assert.strictEqual(outcomes.filter((o) => o.held).length, 1, `B before A's step ${i}, C before B's step ${j}`)
          for (const o of outcomes) if (!o.held) assert.instanceOf(o.error, LockFile.LockHeld)
        }
      }
    }).pipe(Effect.scoped))
})

describe("LockFile, crashes and releases", () => {
  it.effect("a process that dies at any step leaves the directory to the next one", () =>
    Effect.gen(function*() {
      const dir0 = yield* tempDir
      const solo = counting(() => {})
      assert.isTrue(attempt(dir0, simulated(dead, solo.fs)).held)
      for (let step = 0; step <= solo.count(); step++) {
        const dir = yield* tempDir
        // Dies before its step-th operation: it does nothing more, not even clean up.
        const dying = counting((n) => {
          if (n >= step) throw new Error("died")
        })
        attempt(dir, simulated(dead, dying.fs))
        const next = attempt(dir, simulated(1001))
        assert.isTrue(next.held, `died before step ${step}: ${next.held ? "" : String(next.error)}`)
      }
    }).pipe(Effect.scoped))

  it.effect("staging directories left by processes that died taking the lock are removed by its next holder", () =>
    Effect.gen(function*() {
      const dir0 = yield* tempDir
      const solo = counting(() => {})
      assert.isTrue(attempt(dir0, simulated(dead, solo.fs)).held)
      for (let step = 0; step <= solo.count(); step++) {
        const dir = yield* tempDir
        const dyingAt = (pid: number) =>
          attempt(dir, simulated(pid, counting((n) => {
            if (n >= step) throw new Error("died")
          }).fs))
        // Two processes die before their step-th operation: one that is gone, and one whose id a
        // running process has since been given (a staging directory that old cannot be a live
        // taker's).
        dyingAt(dead)
        dyingAt(1002)
        for (const name of fs.readdirSync(dir)) {
          if (name.startsWith(`${LockFile.lockDirName}.1002.`)) fs.utimesSync(join(dir, name), 0, 0)
        }
        // A live process's, being taken now, is left to it.
        const live = join(dir, `${LockFile.lockDirName}.1003.${"0".repeat(8)}-0000-0000-0000-${"0".repeat(12)}`)
        fs.mkdirSync(live)
        const next = attempt(dir, simulated(1001))
        assert.isTrue(next.held, `died before step ${step}: ${next.held ? "" : String(next.error)}`)
        assert.deepStrictEqual(
          fs.readdirSync(dir).sort(),
          [LockFile.lockFileName, LockFile.lockDirName, live.slice(dir.length + 1)].sort(),
          `died before step ${step}`
        )
      }
    }).pipe(Effect.scoped))

  it.effect("a release gives back only its own lock", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const a = attempt(dir, simulated(1001))
      assert.isTrue(a.held)
      // Removed by hand (as the error message allows once no process has the directory open),
      // then taken by another process.
      fs.rmSync(join(dir, LockFile.lockDirName), { recursive: true, force: true })
      fs.rmSync(join(dir, LockFile.lockFileName), { force: true })
      const b = attempt(dir, simulated(1002))
      assert.isTrue(b.held)
      ;(a as Outcome & { held: true }).release()
      const c = attempt(dir, simulated(1003))
      assert.isFalse(c.held)
      assert.include(String((c as Outcome & { held: false }).error), "process 1002")
    }).pipe(Effect.scoped))

  it.effect("a lock copied into a held lock (a dump loaded into the directory) goes with its release", () =>
    Effect.gen(function*() {
      // PGlite's dumpDataDir takes the lock with the files, and loading the dump writes it into
      // the directory of the client that loads it, which holds its own lock by then.
      const dir = yield* tempDir
      const a = attempt(dir, simulated(1001))
      assert.isTrue(a.held)
      fs.writeFileSync(join(dir, LockFile.lockDirName, "1002.copied-from-a-dump"), "")
      ;(a as Outcome & { held: true }).release()
      const c = attempt(dir, simulated(1003))
      assert.isTrue(c.held, c.held ? "" : String(c.error))
    }).pipe(Effect.scoped))

  it.effect("a lock file of an earlier version is honoured while its process runs", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, LockFile.lockFileName)
      fs.writeFileSync(file, "1002")
      const refused = attempt(dir, simulated(1001))
      assert.isFalse(refused.held)
      assert.instanceOf((refused as Outcome & { held: false }).error, LockFile.LockHeld)
      assert.include(String((refused as Outcome & { held: false }).error), dir)
      assert.include(String((refused as Outcome & { held: false }).error), "process 1002")
      // The refused process left the earlier client's lock as it was.
      assert.strictEqual(fs.readFileSync(file, "utf8"), "1002")
      fs.writeFileSync(file, String(dead))
      const taken = attempt(dir, simulated(1001))
      assert.isTrue(taken.held)
      // Taken over: the directory's lock names its new holder, and so does the file a client of
      // an earlier version reads.
      assert.include(String((attempt(dir, simulated(1003)) as Outcome & { held: false }).error), "process 1001")
      assert.strictEqual(fs.readFileSync(file, "utf8"), "1001")
      ;(taken as Outcome & { held: true }).release()
      assert.deepStrictEqual(fs.readdirSync(dir), [])
    }).pipe(Effect.scoped))
})

// How a client of the version before the lock directory (commit 79c9ea3) took its lock: the
// file `lawful-pglite.lock` created exclusively, then its process id written in it; a file
// naming no running process removed and created again.
const earlierVersion = (dir: string, pid: number, filesystem: typeof fs = fs): Outcome => {
  const path = join(dir, LockFile.lockFileName)
  const take = (): number => {
    try {
      return filesystem.openSync(path, "wx")
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
      const holder = Number.parseInt(filesystem.readFileSync(path, "utf8"), 10)
      if (Number.isInteger(holder) && holder > 0 && holder !== pid && live.has(holder)) {
        throw new Error(`${dir} is open in another PgliteClient (process ${holder})`)
      }
      filesystem.rmSync(path, { force: true })
      return filesystem.openSync(path, "wx")
    }
  }
  try {
    const fd = take()
    try {
      filesystem.writeSync(fd, String(pid))
    } finally {
      filesystem.closeSync(fd)
    }
    return { held: true, release: () => filesystem.rmSync(path, { force: true }) }
  } catch (error) {
    return { held: false, error }
  }
}

describe("LockFile and a client of an earlier version", () => {
  const states: ReadonlyArray<readonly [string, (dir: string) => void]> = [
    ["no lock", () => {}],
    ["a lock directory left by a process that is gone", (dir) => {
      LockFile.acquire(dir, simulated(dead))
      fs.rmSync(join(dir, LockFile.lockFileName))
    }]
  ]
  for (const [state, setUp] of states) {
    it.effect(`starting together on a directory with ${state}: exactly one holds it, whatever the interleaving`, () =>
      Effect.gen(function*() {
        const stepsOf = (run: (dir: string, filesystem: typeof fs) => Outcome) =>
          Effect.gen(function*() {
            const dir = yield* tempDir
            setUp(dir)
            const solo = counting(() => {})
            assert.isTrue(run(dir, solo.fs).held)
            return solo.count()
          })
        const newSteps = yield* stepsOf((dir, filesystem) => attempt(dir, simulated(1001, filesystem)))
        const oldSteps = yield* stepsOf((dir, filesystem) => earlierVersion(dir, 1002, filesystem))
        const check = (dir: string, current: Outcome, earlier: Outcome, at: string) => {
          const holders = [current, earlier].filter((o) => o.held).length
          assert.strictEqual(holders, 1, `${at}: ${holders} clients hold the directory`)
          if (!current.held) assert.instanceOf(current.error, LockFile.LockHeld, at)
          // Once its holder lets go, the directory opens again.
          ;(current.held ? current : earlier as Outcome & { held: true }).release()
          const after = attempt(dir, simulated(1003))
          assert.isTrue(after.held, `${at}, then released: ${after.held ? "" : String(after.error)}`)
          ;(after as Outcome & { held: true }).release()
        }
        for (let step = 0; step <= newSteps; step++) {
          const dir = yield* tempDir
          setUp(dir)
          let earlier: Outcome | undefined
          const current = attempt(dir, simulated(1001, counting((n) => {
            if (n === step) earlier = earlierVersion(dir, 1002)
          }).fs))
          earlier ??= earlierVersion(dir, 1002)
          check(dir, current, earlier, `the earlier client before step ${step} of ${newSteps} of this one`)
        }
        for (let step = 0; step <= oldSteps; step++) {
          const dir = yield* tempDir
          setUp(dir)
          let current: Outcome | undefined
          const earlier = earlierVersion(dir, 1002, counting((n) => {
            if (n === step) current = attempt(dir, simulated(1001))
          }).fs)
          current ??= attempt(dir, simulated(1001))
          check(dir, current, earlier, `this client before step ${step} of ${oldSteps} of the earlier one`)
        }
      }).pipe(Effect.scoped))
  }

  it.effect("an empty lock file of an earlier version is refused while new, taken over once old", () =>
    Effect.gen(function*() {
      // An earlier client creates the file, then writes its id: empty, it may be one being taken.
      const dir = yield* tempDir
      const file = join(dir, LockFile.lockFileName)
      fs.writeFileSync(file, "")
      const refused = attempt(dir, simulated(1001))
      assert.isFalse(refused.held)
      assert.instanceOf((refused as Outcome & { held: false }).error, LockFile.LockHeld)
      assert.strictEqual(fs.readFileSync(file, "utf8"), "")
      // Left empty by a client that died before writing its id.
      fs.utimesSync(file, 0, 0)
      const taken = attempt(dir, simulated(1001))
      assert.isTrue(taken.held, taken.held ? "" : String(taken.error))
      assert.strictEqual(fs.readFileSync(file, "utf8"), "1001")
      ;(taken as Outcome & { held: true }).release()
    }).pipe(Effect.scoped))
})

// Real processes: each round, racers forked once race for a directory holding a stale lock.
const racerScript = fileURLToPath(new URL("./lockRacer.ts", import.meta.url))
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
// Above any process id Linux gives (at most 2^22), so never running.
const neverRunning = 2 ** 22 + 1

type RacerMessage =
  | { readonly type: "ready" | "released" }
  | { readonly type: "acquired"; readonly pid: number; readonly won: boolean; readonly refused?: boolean; readonly error?: string }

const racer = Effect.acquireRelease(
  Effect.async<{ readonly child: ChildProcess; readonly next: Effect.Effect<RacerMessage> }>((resume) => {
    const child = fork(racerScript, [], { execArgv: ["--import", tsx], stdio: ["ignore", "inherit", "inherit", "ipc"] })
    const inbox: Array<RacerMessage> = []
    const waiting: Array<(message: RacerMessage) => void> = []
    child.on("message", (message: RacerMessage) => {
      const waiter = waiting.shift()
      if (waiter) waiter(message)
      else inbox.push(message)
    })
    const next = Effect.async<RacerMessage>((resume) => {
      const message = inbox.shift()
      if (message) resume(Effect.succeed(message))
      else waiting.push((message) => resume(Effect.succeed(message)))
    })
    resume(Effect.as(next, { child, next }))
  }),
  ({ child }) => Effect.sync(() => child.disconnect())
)

describe("LockFile across processes", () => {
  it.scoped("processes racing for a stale lock: exactly one wins each round", () =>
    Effect.gen(function*() {
      const racers = yield* Effect.all(Array.from({ length: 4 }, () => racer), { concurrency: "unbounded" })
      const root = yield* tempDir
      for (let round = 0; round < 200; round++) {
        const dir = join(root, String(round))
        fs.mkdirSync(dir)
        LockFile.acquire(dir, { ...LockFile.thisProcess, pid: neverRunning, held: new Set() })
        for (const { child } of racers) child.send({ type: "acquire", dir })
        const results = yield* Effect.forEach(racers, ({ next }) => next)
        const winners = results.filter((r) => r.type === "acquired" && r.won)
        assert.strictEqual(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`)
        for (const result of results) {
          if (result.type === "acquired" && !result.won) assert.isTrue(result.refused, result.error)
        }
        for (const { child } of racers) child.send({ type: "release" })
        yield* Effect.forEach(racers, ({ next }) => next)
      }
    }), 120_000)
})
