/**
 * What the person saw when consenting, as hashes: the event stores the
 * SHA-256 of the exact notice text, of the checkbox labels and of the
 * privacy-policy link, so that anyone holding the texts can show they are
 * the ones the person saw, while the event stays small.
 *
 * The hashed bytes, so that a third party can recompute them:
 *
 * - `text`: SHA-256 of the UTF-8 bytes of the notice text, exactly as shown;
 * - `labels`: SHA-256 of the UTF-8 bytes of the RFC 8785 JSON array of the
 *   checkbox labels, in the order shown (`["Weekly digest","Offers"]`);
 * - `privacyPolicy`: SHA-256 of the UTF-8 bytes of the privacy-policy link
 *   (the URL as linked). Only the link is hashed: link a versioned policy
 *   (`/privacy/2025-03`) for the event to name the text that was shown.
 *
 * Each is 64 lower-case hex digits.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { sha256Hex } from "./internal/bytes.js"
import { canonicalJson } from "./internal/canonical.js"

/**
 * A SHA-256 digest as 64 lower-case hex digits.
 *
 * @since 0.1.0
 * @category models
 */
export const Sha256Hex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "a SHA-256 digest is 64 lower-case hex digits" })
)

/**
 * The hashes of a notice as the person saw it.
 *
 * @since 0.1.0
 * @category models
 */
export const NoticeHashes = Schema.Struct({
  text: Sha256Hex,
  labels: Sha256Hex,
  privacyPolicy: Sha256Hex
})

/**
 * @since 0.1.0
 * @category models
 */
export type NoticeHashes = typeof NoticeHashes.Type

/**
 * A notice in clear: the text, the checkbox labels and the privacy-policy link.
 *
 * @since 0.1.0
 * @category models
 */
export interface Notice {
  readonly text: string
  readonly labels: ReadonlyArray<string>
  readonly privacyPolicyUrl: string
}

/**
 * The hashes of a notice (see the module documentation for the bytes hashed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const hash = (notice: Notice): NoticeHashes => ({
  text: sha256Hex(notice.text),
  labels: sha256Hex(canonicalJson(notice.labels)),
  privacyPolicy: sha256Hex(notice.privacyPolicyUrl)
})

/**
 * Whether a notice in clear is the one the hashes were made from.
 *
 * @since 0.1.0
 * @category constructors
 */
export const matches = (notice: Notice, hashes: NoticeHashes): boolean => {
  const computed = hash(notice)
  return computed.text === hashes.text && computed.labels === hashes.labels &&
    computed.privacyPolicy === hashes.privacyPolicy
}
