/**
 * Email addresses: validation and the normal form Lawful keys subjects on.
 *
 * The rule, applied by `normalize`:
 *
 * 1. Surrounding whitespace (any Unicode space, tabs, line breaks) is removed;
 *    whitespace inside the address makes it invalid.
 * 2. The address is put in Unicode NFC form.
 * 3. The whole address is lower-cased, the local part included. RFC 5321 lets a
 *    server treat local parts case-sensitively, but no mainstream mailbox
 *    provider does, and a person who asks to be forgotten must be found however
 *    they typed their address.
 * 4. The domain takes its one IDNA form (UTS #46, as `domainToUnicode` gives
 *    it): an `xn--` label and the Unicode label it encodes, full-width letters,
 *    an ideographic full stop or an invisible character (a soft hyphen, a
 *    zero-width space pasted along) name the same domain, and so give the same
 *    address.
 * 5. Nothing else changes: dots and `+tags` are kept, because their meaning
 *    differs from one provider to the next.
 *
 * Accepted: a dot-atom local part (RFC 5322 `atext`, plus non-ASCII letters
 * per RFC 6531) of 1 to 64 characters, one `@`, and a domain name of at least
 * two labels (letters, digits and hyphens, or internationalised labels), 254
 * characters at most in all. Quoted local parts and address literals
 * (`user@[192.0.2.1]`) are refused: no subscription form needs them.
 *
 * Errors never contain the address: it is personal data.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { domainToASCII, domainToUnicode } from "node:url"

/**
 * A normalised, valid email address.
 *
 * @since 0.1.0
 * @category models
 */
export const Email = Schema.String.pipe(Schema.brand("@lawful/core/Email"))

/**
 * @since 0.1.0
 * @category models
 */
export type Email = typeof Email.Type

/**
 * Why an address was refused.
 *
 * @since 0.1.0
 * @category models
 */
export const InvalidEmailReason = Schema.Literal(
  "empty",
  "too-long",
  "missing-at",
  "several-at",
  "contains-whitespace",
  "local-part-empty",
  "local-part-too-long",
  "local-part-invalid",
  "domain-invalid"
)

/**
 * @since 0.1.0
 * @category models
 */
export type InvalidEmailReason = typeof InvalidEmailReason.Type

/**
 * The input is not an address Lawful accepts. The address itself is not carried.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidEmail extends Schema.TaggedError<InvalidEmail>()("InvalidEmail", {
  reason: InvalidEmailReason
}) {
  override get message(): string {
    return `Invalid email address: ${this.reason}`
  }
}

const atext = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+$/u
const dnsLabel = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

const check = (input: string): Email | InvalidEmailReason => {
  const address = input.trim().normalize("NFC").toLowerCase()
  if (address.length === 0) return "empty"
  if (address.length > 254) return "too-long"
  if (/\s/u.test(address)) return "contains-whitespace"
  const at = address.lastIndexOf("@")
  if (at === -1) return "missing-at"
  if (address.indexOf("@") !== at) return "several-at"
  const local = address.slice(0, at)
  const domain = address.slice(at + 1)
  if (local.length === 0) return "local-part-empty"
  if (local.length > 64) return "local-part-too-long"
  if (!local.split(".").every((atom) => atext.test(atom))) return "local-part-invalid"
  const ascii = domainToASCII(domain)
  if (ascii === "" || ascii.length > 253) return "domain-invalid"
  const labels = ascii.split(".")
  if (labels.length < 2 || !labels.every((label) => dnsLabel.test(label))) return "domain-invalid"
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return "domain-invalid"
  // The domain as IDNA reads it, not as typed: spelt two ways, one mailbox would be two subjects.
  const normal = `${local}@${domainToUnicode(ascii)}`
  if (normal.length > 254) return "too-long"
  return Email.make(normal)
}

/**
 * Validates an address and returns its normal form.
 *
 * @since 0.1.0
 * @category constructors
 */
export const normalize = (input: string): Effect.Effect<Email, InvalidEmail> => {
  const result = check(input)
  return isReason(result) ? Effect.fail(new InvalidEmail({ reason: result })) : Effect.succeed(result)
}

const reasons = new Set<string>(InvalidEmailReason.literals)
const isReason = (value: string): value is InvalidEmailReason => reasons.has(value)

/**
 * A Schema from any string to a normalised `Email`, for decoding input at the edge.
 * Decoding fails with the reason, never with the address.
 *
 * @since 0.1.0
 * @category models
 */
export const EmailFromString: Schema.Schema<Email, string> = Schema.transformOrFail(Schema.String, Email, {
  strict: true,
  decode: (input, _, ast) => {
    const result = check(input)
    return isReason(result)
      ? Effect.fail(new ParseResult.Type(ast, "[redacted]", `Invalid email address: ${result}`))
      : Effect.succeed(result)
  },
  encode: Effect.succeed
})
