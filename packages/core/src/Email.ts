/**
 * Email addresses: validation and the normal form Lawful keys subjects on.
 *
 * The rule, applied by `normalize`:
 *
 * 1. Surrounding whitespace (any Unicode space, tabs, line breaks) is removed;
 *    whitespace inside the address makes it invalid.
 * 2. The address is put in Unicode NFKC form: full-width letters and signs
 *    (as an input method in full-width mode types them, `＠` included),
 *    ligatures and other compatibility characters become the characters they
 *    stand for, in the local part as IDNA maps them in the domain.
 * 3. The local part is lower-cased (Unicode's `toLowerCase`). RFC 5321 lets a
 *    server treat local parts case-sensitively, but no mainstream mailbox
 *    provider does, and a person who asks to be forgotten must be found however
 *    they typed their address. A Greek sigma takes the form its place in the
 *    word asks (`ς` at the end, `σ` elsewhere) whether it was typed `σ`, `ς` or
 *    `Σ`. A letter whose capital stands for another spelling too keeps the
 *    spelling typed in lower case: `straße` and `strasse` (both `STRASSE`),
 *    `ılgın` and `ilgin` (both `ILGIN`) are different addresses, and the
 *    capitals give the second.
 * 4. The domain takes its one IDNA form (UTS #46, as `domainToUnicode` gives
 *    it, lower case included): an `xn--` label and the Unicode label it
 *    encodes, capitals, full-width letters, an ideographic full stop or an
 *    invisible character (a soft hyphen, a zero-width space pasted along) name
 *    the same domain, and so give the same address. A `%` is refused, not
 *    decoded as a URL's host would be.
 * 5. Nothing else changes: dots and `+tags` are kept, because their meaning
 *    differs from one provider to the next.
 *
 * Accepted: a dot-atom local part (RFC 5322 `atext`, plus non-ASCII letters
 * and digits per RFC 6531, see below) of 1 to 64 octets, one `@`, and a domain name of at
 * least two labels (letters, digits and hyphens, or internationalised labels)
 * of 253 octets at most as ASCII, 254 octets at most in all, with the domain
 * as Unicode or as ASCII. Octets are those of UTF-8, as RFC 6531 counts RFC
 * 5321's limits: `é` is two, `ann` three. Quoted local parts and address
 * literals (`user@[192.0.2.1]`) are refused: no subscription form needs them.
 * The local part holds `atext` signs and letters and digits of any script,
 * each with the combining marks that follow it (a vowel sign of Devanagari or
 * Thai); anything else, a mark after a sign or at the start of an atom, a
 * zero-width character or a control, makes it invalid.
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
 * A normalised, valid email address. A value that is not text is refused with `"expected text"`,
 * never quoting it.
 *
 * @since 0.1.0
 * @category models
 */
export const Email = Schema.String.annotations({ message: () => "expected text" }).pipe(
  Schema.brand("@lawful/core/Email")
)

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
  "not-text",
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

// An atom: `atext` and letters and digits of any script, each letter or digit with the marks
// that follow it (the vowel signs of Devanagari, Thai, Kannada...), never a mark first.
const atext = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-](?:(?<=[\p{L}\p{N}\p{M}])\p{M}|[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-])*$/u
const dnsLabel = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/

const octets = (text: string): number => Buffer.byteLength(text, "utf8")

// Lower-cased, then every sigma re-cased as its place in the word asks (`ς` at the end, `σ`
// elsewhere), as lower-casing a capital `Σ` gives it: typed `σ`, `ς` or `Σ`, a letter is one.
const lowerCase = (local: string): string => local.toLowerCase().replace(/[σς]/gu, "Σ").toLowerCase()

const check = (input: string): Email | InvalidEmailReason => {
  const address = input.trim().normalize("NFKC")
  if (address.length === 0) return "empty"
  if (address.length > 254) return "too-long"
  if (/\s/u.test(address)) return "contains-whitespace"
  const at = address.lastIndexOf("@")
  if (at === -1) return "missing-at"
  if (address.indexOf("@") !== at) return "several-at"
  const local = lowerCase(address.slice(0, at)).normalize("NFKC")
  const domain = address.slice(at + 1)
  if (local.length === 0) return "local-part-empty"
  if (octets(local) > 64) return "local-part-too-long"
  if (!local.split(".").every((atom) => atext.test(atom))) return "local-part-invalid"
  // The URL host parser behind `domainToASCII` would decode `%2e` into a dot: no domain holds `%`.
  if (domain.includes("%")) return "domain-invalid"
  const ascii = domainToASCII(domain)
  if (ascii === "" || ascii.length > 253) return "domain-invalid"
  const labels = ascii.split(".")
  if (labels.length < 2 || !labels.every((label) => dnsLabel.test(label))) return "domain-invalid"
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return "domain-invalid"
  // The domain as IDNA reads it, not as typed: spelt two ways, one mailbox would be two subjects.
  const normal = `${local}@${domainToUnicode(ascii)}`
  if (octets(normal) > 254 || octets(local) + 1 + ascii.length > 254) return "too-long"
  return Email.make(normal)
}

/**
 * Validates an address and returns its normal form. A value that is not a string (`null`, a
 * number, an array, from a caller without types) is refused with reason `"not-text"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const normalize = (input: string): Effect.Effect<Email, InvalidEmail> => {
  const result: Email | InvalidEmailReason = typeof input === "string" ? check(input) : "not-text"
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
