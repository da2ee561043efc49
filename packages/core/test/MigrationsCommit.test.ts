import { assert } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { randomUUID } from "node:crypto"
import * as Migrations from "../src/Migrations.js"
import { sqlSuite } from "../src/testing.js"

sqlSuite("Migrations.run", Layer.empty, (it) => {
  it.effect("a migration whose COMMIT fails is MigrationFailed, not a defect, and nothing is kept", () =>
    Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      const id = randomUUID().replaceAll("-", "").slice(0, 12)
      const table = `mig_commit_${id}`
      const exit = yield* Effect.exit(Migrations.run(`commit-${id}`, {
        "0001_refused": Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`
          CREATE TABLE ${table} (id int);
          CREATE FUNCTION ${table}_f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'commit refused'; END $$;
          CREATE CONSTRAINT TRIGGER ${table}_t AFTER INSERT ON ${table} DEFERRABLE INITIALLY DEFERRED
          FOR EACH ROW EXECUTE FUNCTION ${table}_f();
          INSERT INTO ${table} VALUES (1)`))
      }))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.isTrue(Option.isNone(Cause.dieOption(exit.cause)), "no defect: " + Cause.pretty(exit.cause))
        const failure = Cause.failureOption(exit.cause)
        assert.isTrue(Option.isSome(failure) && failure.value._tag === "MigrationFailed")
      }
      const rows = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_class WHERE relname = ${table}`
      assert.strictEqual(rows[0]!.n, 0)
    }))
})
