import * as TenantId from "@lawful/core/TenantId"
import * as Effect from "effect/Effect"
import * as ConsentLedger from "../src/ConsentLedger.js"
import * as ConsentLists from "../src/ConsentLists.js"
import * as ConsentNotice from "../src/ConsentNotice.js"

export const notice = ConsentNotice.hash({
  text: "Get our weekly digest and occasional offers. Unsubscribe at any time.",
  labels: ["Weekly digest", "Offers"],
  privacyPolicyUrl: "https://brand.example/privacy"
})

/** Lists of a test tenant: one single opt-in, two double opt-in. */
export const lists = [
  new ConsentLists.ConsentList({ id: ConsentLists.ListId.make("news"), name: "News", purpose: "Weekly news", doubleOptIn: false }),
  new ConsentLists.ConsentList({ id: ConsentLists.ListId.make("offers"), name: "Offers", purpose: "Offers", doubleOptIn: true }),
  new ConsentLists.ConsentList({ id: ConsentLists.ListId.make("events.local"), name: "Events", purpose: "Events", doubleOptIn: true })
]

/** A new tenant with the test lists declared. */
export const tenantWithLists = Effect.gen(function*() {
  const tenant = yield* TenantId.make
  const declared = yield* ConsentLists.ConsentLists
  yield* Effect.forEach(lists, (list) => declared.declare(tenant, list), { discard: true })
  return tenant
})

/** Who decrypts IP addresses and user agents in the tests (exports, disclosures, proofs). */
export const auditor = { kind: "staff" as const, id: "auditor-1" }

export const formSource = { type: "form" as const, formId: "signup", formVersion: 3 }

export const grant = (
  email: string,
  listIds: ReadonlyArray<string>,
  extra: Partial<ConsentLedger.RecordRequest> = {}
): ConsentLedger.RecordRequest => ({
  kind: "granted",
  email,
  lists: listIds as [string, ...Array<string>],
  source: formSource,
  notice,
  language: "en",
  ip: "203.0.113.7",
  userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
  actor: { kind: "subject" },
  ...extra
})

export const confirm = (
  email: string,
  listIds: ReadonlyArray<string>,
  extra: Partial<ConsentLedger.RecordRequest> = {}
): ConsentLedger.RecordRequest => ({
  kind: "confirmed",
  email,
  lists: listIds as [string, ...Array<string>],
  source: { type: "api" },
  ip: "2001:db8::7",
  userAgent: "Mozilla/5.0 (iPhone) Safari/18",
  actor: { kind: "subject" },
  ...extra
})

export const withdraw = (
  email: string,
  listIds: ReadonlyArray<string>,
  extra: Partial<ConsentLedger.RecordRequest> = {}
): ConsentLedger.RecordRequest => ({
  kind: "withdrawn",
  email,
  lists: listIds as [string, ...Array<string>],
  source: { type: "unsubscribe-link" },
  reason: "unsubscribe",
  actor: { kind: "subject" },
  ...extra
})

export const attestation = {
  where: "Sign-up form at https://shop.example/join and the checkout opt-in box",
  how: "Unticked checkbox with the notice 'Send me offers', confirmation email (double opt-in)",
  collectedFrom: "2024-01-01T00:00:00.000Z",
  collectedTo: "2026-06-30T00:00:00.000Z",
  attestedBy: { name: "Data Protection Officer", role: "DPO", organisation: "Shop Example SAS" }
}
