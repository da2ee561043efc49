// A process racing for a directory's lock, driven by the test that forks it (LockFile.test.ts):
// "acquire" answers whether it got the lock, "release" gives it back.
import * as LockFile from "../src/internal/lockFile.js"

let release: (() => void) | undefined

type Message = { readonly type: "acquire"; readonly dir: string } | { readonly type: "release" }

const send = (message: unknown) => process.send!(message)

process.on("message", (message: Message) => {
  if (message.type === "acquire") {
    try {
      release = LockFile.acquire(message.dir)
      send({ type: "acquired", pid: process.pid, won: true })
    } catch (error) {
      send({ type: "acquired", pid: process.pid, won: false, refused: error instanceof LockFile.LockHeld, error: String(error) })
    }
  } else {
    release?.()
    release = undefined
    send({ type: "released" })
  }
})
process.on("disconnect", () => process.exit(0))
send({ type: "ready" })
