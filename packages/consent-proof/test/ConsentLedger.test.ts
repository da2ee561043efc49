import { contractSuite } from "@lawful/core/testing"
import { suite } from "./ConsentLedgerSuite.js"
import { memory, sql } from "./layers.js"

contractSuite("ConsentLedger", { memory, sql }, (it) => suite(it))
