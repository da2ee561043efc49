import * as Layer from "effect/Layer"
import { contractSuite } from "@lawful/core/testing"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { suite } from "./AuditLogSuite.js"

// The store stays in the output: the suite reads it too.
const logOver = <E, R>(store: Layer.Layer<AuditStore.AuditStore, E, R>) =>
  AuditLog.layer.pipe(
    Layer.provide(Layer.mergeAll(AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory)),
    Layer.provideMerge(store)
  )

contractSuite("AuditLog", { memory: logOver(AuditStore.layerMemory), sql: logOver(AuditStore.layerSql) }, (it) => suite(it))
