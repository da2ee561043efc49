/**
 * Consent receipts: a JSON document handed to the person, in the shape of
 * the Kantara Initiative Consent Receipt v1.1 (`version`, `jurisdiction`,
 * `consentTimestamp`, `collectionMethod`, `consentReceiptID`, `language`,
 * `piiPrincipalId`, `piiControllers`, `policyUrl`, `services` with their
 * `purposes`, `sensitive`, `spiCat`), with the ISO/IEC TS 27560 record
 * fields of the event (`record_id`, `event`) and a `proof` member that ties
 * the receipt to the event's canonical bytes and audit entry, so the person
 * (or anyone they give it to) can ask for and check the proof bundle.
 *
 * The controller's identity, policy link and jurisdiction come from the
 * tenant; the purposes from the declarations of the event's lists.
 *
 * @since 0.1.0
 */
import type { Json } from "@lawful/audit-trail/AuditEvent"
import type * as ConsentEvent from "./ConsentEvent.js"
import { eventState, eventType } from "./ConsentExport.js"
import type { ConsentList } from "./ConsentLists.js"

/**
 * The controller of the data (the tenant), as the receipt names it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Controller {
  readonly name: string
  readonly contact: string
  readonly address: string
  readonly email: string
  readonly phone?: string | undefined
  readonly url?: string | undefined
}

/**
 * What a receipt needs besides the event.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReceiptOptions {
  readonly controller: Controller
  readonly policyUrl: string
  /** Where the controller is established, e.g. `"EU"`, `"FR"`. */
  readonly jurisdiction: string
  /** The service the lists belong to (the brand's newsletter, shop...). */
  readonly service: string
  /** The declarations of the event's lists (for their names and purposes). */
  readonly lists: ReadonlyArray<ConsentList>
  /** How the person is named on the receipt (default: the subject id). */
  readonly principal?: string | undefined
}

/**
 * The Kantara version string.
 *
 * @since 0.1.0
 * @category models
 */
export const version = "KI-CR-v1.1.0"

const collectionMethod = (event: ConsentEvent.ConsentEvent): string => {
  const source = event.source
  switch (source.type) {
    case "form":
      return `Web form ${source.formId}, version ${source.formVersion}`
    case "import":
      return `Imported with attestation ${source.attestation} (import ${source.importId})`
    case "api":
      return "Recorded through the API"
    case "preference-centre":
      return "Preference centre"
    case "unsubscribe-link":
      return "Unsubscribe link"
  }
}

/**
 * The receipt of a recorded event.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (recorded: ConsentEvent.Recorded, options: ReceiptOptions): { readonly [key: string]: Json } => {
  const event = recorded.event
  const declared = new Map(options.lists.map((list) => [list.id as string, list]))
  const controller = options.controller
  return {
    version,
    jurisdiction: options.jurisdiction,
    consentTimestamp: Math.floor(event.time.getTime() / 1000),
    collectionMethod: collectionMethod(event),
    consentReceiptID: event.id,
    ...(event.language !== undefined ? { language: event.language } : {}),
    piiPrincipalId: options.principal ?? event.subject,
    piiControllers: [{
      piiController: controller.name,
      contact: controller.contact,
      address: controller.address,
      email: controller.email,
      ...(controller.phone !== undefined ? { phone: controller.phone } : {}),
      ...(controller.url !== undefined ? { piiControllerUrl: controller.url } : {})
    }],
    policyUrl: options.policyUrl,
    services: [{
      service: options.service,
      purposes: event.lists.map((list) => ({
        purpose: declared.get(list)?.purpose ?? list,
        purposeCategory: [declared.get(list)?.name ?? list],
        consentType: "EXPLICIT",
        piiCategory: ["E-mail address"],
        primaryPurpose: true,
        termination: "Until withdrawn: the unsubscribe link in every message, or the preference centre",
        thirdPartyDisclosure: false
      }))
    }],
    sensitive: false,
    spiCat: [],
    record_id: event.id,
    event: [{
      event_time: event.time.toISOString(),
      event_type: eventType(event),
      event_state: eventState(event),
      lawful_basis: event.lawfulBasis
    }],
    proof: {
      eventSha256: recorded.hash,
      auditIndex: recorded.auditIndex
    }
  }
}
