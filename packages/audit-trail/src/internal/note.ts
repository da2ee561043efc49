/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys: the
 * format golang.org/x/mod/sumdb/note implements.
 *
 * @internal
 */
import * as Crypto from "node:crypto"
import { decodeBase64, encodeBase64, encodeUtf8, isWellFormed, toUint8Array } from "./bytes.js"

/** Signature type byte of Ed25519 in key ids and verifier keys. */
export const ed25519Type = 0x01

/** A note may carry at most this many signatures (the Go implementation's limit). */
export const maxSignatures = 100

const signaturePrefix = "\u2014 "

/** One signature line of a note, not yet verified. */
export interface NoteSignature {
  readonly name: string
  readonly keyId: number
  readonly signature: Uint8Array
}

/** A note split into its text (ending in a newline) and its signatures. */
export interface Note {
  readonly text: string
  readonly signatures: ReadonlyArray<NoteSignature>
}

/** Key names are non-empty and hold no Unicode space and no plus sign. */
export const isValidKeyName = (name: string): boolean =>
  name.length > 0 && isWellFormed(name) && !/[\p{White_Space}+]/u.test(name)

/** Whether a text has a UTF-8 encoding and no ASCII control character but newline. */
export const isValidNoteText = (text: string): boolean =>
  isWellFormed(text) && !/[\u0000-\u0009\u000b-\u001f]/.test(text)

/** `SHA-256(name || "\n" || type || publicKey)[:4]`, big-endian. */
export const keyId = (name: string, type: number, publicKey: Uint8Array): number =>
  Crypto.createHash("sha256")
    .update(name)
    .update("\n")
    .update(Uint8Array.of(type))
    .update(publicKey)
    .digest()
    .readUInt32BE(0)

export const formatKeyId = (id: number): string => id.toString(16).padStart(8, "0")

/** `<name>+<hex key id>+<base64(type || public key)>`. */
export const formatVerifierKey = (name: string, publicKey: Uint8Array): string =>
  `${name}+${formatKeyId(keyId(name, ed25519Type, publicKey))}+${encodeBase64(Uint8Array.of(ed25519Type, ...publicKey))}`

/** A parsed Ed25519 verifier key. */
export interface Ed25519Verifier {
  readonly name: string
  readonly keyId: number
  readonly publicKey: Uint8Array
}

/** Parses `<name>+<hex key id>+<base64 key>`; returns why it is malformed otherwise. */
export const parseVerifierKey = (text: string): Ed25519Verifier | string => {
  // The name holds no "+", but the base64 key may.
  const first = text.indexOf("+")
  const second = first < 0 ? -1 : text.indexOf("+", first + 1)
  if (second < 0) return "a verifier key has the form <name>+<8 hex digits>+<base64 key>"
  const name = text.slice(0, first)
  const hash = text.slice(first + 1, second)
  const key64 = text.slice(second + 1)
  if (!isValidKeyName(name)) return "the key name must be non-empty, without spaces or plus signs"
  if (!/^[0-9a-fA-F]{8}$/.test(hash)) return "the key id must be 8 hexadecimal digits"
  const key = decodeBase64(key64)
  if (key === undefined) return "the key is not canonical base64"
  if (key[0] !== ed25519Type) return "only Ed25519 keys (type 0x01) are supported"
  if (key.length !== 33) return "an Ed25519 public key is 32 bytes"
  const publicKey = key.slice(1)
  const id = Number.parseInt(hash, 16)
  if (id !== keyId(name, ed25519Type, publicKey)) return "the key id does not match the name and key"
  return { name, keyId: id, publicKey }
}

/** Splits a signed note and checks its syntax; returns why it is malformed otherwise. */
export const open = (message: string): Note | string => {
  if (!isValidNoteText(message)) return "a note must be valid UTF-8 without control characters other than newline"
  const split = message.lastIndexOf("\n\n")
  if (split < 0) return "a note must end with a blank line and signature lines"
  const text = message.slice(0, split + 1)
  const block = message.slice(split + 2)
  if (block.length === 0 || !block.endsWith("\n")) return "signature lines must end with a newline"
  const lines = block.slice(0, -1).split("\n")
  if (lines.length > maxSignatures) return `a note may carry at most ${maxSignatures} signatures`
  const signatures: Array<NoteSignature> = []
  for (const line of lines) {
    if (!line.startsWith(signaturePrefix)) return "a signature line starts with an em dash and a space"
    const rest = line.slice(signaturePrefix.length)
    const space = rest.indexOf(" ")
    const name = space < 0 ? rest : rest.slice(0, space)
    const decoded = space < 0 ? undefined : decodeBase64(rest.slice(space + 1))
    if (!isValidKeyName(name)) return "a signature's key name must be non-empty, without spaces or plus signs"
    if (decoded === undefined || decoded.length < 5) return "a signature must be canonical base64 of a key id and a signature"
    signatures.push({
      name,
      keyId: Buffer.from(decoded.buffer, decoded.byteOffset, 4).readUInt32BE(0),
      signature: decoded.slice(4)
    })
  }
  return { text, signatures }
}

/** One signature line for `text` by an Ed25519 key. */
export const signatureLine = (name: string, id: number, privateKey: Crypto.KeyObject, text: string): string => {
  const signature = toUint8Array(Crypto.sign(null, encodeUtf8(text), privateKey))
  const keyIdBytes = new Uint8Array(4)
  new DataView(keyIdBytes.buffer).setUint32(0, id)
  return `${signaturePrefix}${name} ${encodeBase64(Uint8Array.of(...keyIdBytes, ...signature))}\n`
}

const spkiPrefix = Uint8Array.from(Buffer.from("302a300506032b6570032100", "hex"))

/** The Node key object of a 32-byte Ed25519 public key. */
export const publicKeyObject = (publicKey: Uint8Array): Crypto.KeyObject =>
  Crypto.createPublicKey({ key: Buffer.from([...spkiPrefix, ...publicKey]), format: "der", type: "spki" })

/** Whether `signature` is a valid Ed25519 signature of `text`. */
export const verifyEd25519 = (publicKey: Crypto.KeyObject, text: string, signature: Uint8Array): boolean =>
  signature.length === 64 && Crypto.verify(null, encodeUtf8(text), publicKey, signature)

const pkcs8Prefix = Uint8Array.from(Buffer.from("302e020100300506032b657004220420", "hex"))

/** The Ed25519 private key of a 32-byte seed. */
export const privateKeyFromSeed = (seed: Uint8Array): Crypto.KeyObject =>
  Crypto.createPrivateKey({ key: Buffer.from([...pkcs8Prefix, ...seed]), format: "der", type: "pkcs8" })

/** The 32-byte public key of an Ed25519 private key. */
export const publicKeyOf = (privateKey: Crypto.KeyObject): Uint8Array => {
  const spki = Crypto.createPublicKey(privateKey).export({ format: "der", type: "spki" })
  return new Uint8Array(spki.subarray(spki.length - 32))
}
