import * as Layer from "effect/Layer"
import { contractSuite } from "@lawful/core/testing"
import * as AuditLog from "../src/AuditLog.js"
import * as AuditStore from "../src/AuditStore.js"
import * as CheckpointPublisher from "../src/CheckpointPublisher.js"
import { suite } from "./AuditLogSuite.js"

const logOver = <E, R>(store: Layer.Layer<AuditStore.AuditStore, E, R>) =>
  AuditLog.layer.pipe(
    Layer.provide(Layer.mergeAll(store, AuditLog.AuditSigner.layerRandom, CheckpointPublisher.layerMemory))
  )

contractSuite("AuditLog", { memory: logOver(AuditStore.layerMemory), sql: logOver(AuditStore.layerSql) }, (it) => suite(it))
