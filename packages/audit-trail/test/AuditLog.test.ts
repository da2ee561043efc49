import { contractSuite } from "@lawful/core/testing"
import { auditMemory, auditSql } from "../src/testing.js"
import { suite } from "./AuditLogSuite.js"

// The store stays in the output: the suite reads it too.
contractSuite("AuditLog", { memory: auditMemory, sql: auditSql }, (it) => suite(it))
