import * as SubjectIds from "../SubjectId.js"
import * as TenantIds from "../TenantId.js"

/**
 * The text of the cause with which an id that is not one (not a lower-case
 * UUID) is refused: it names which id, never the value given, which may be an
 * address put in the wrong place.
 *
 * @internal
 */
export const notAnId = (which: "tenant" | "subject"): string => `a ${which} id given is not a lower-case UUID`

/**
 * The text of the cause with which a list that is not an array is refused.
 *
 * @internal
 */
export const notAnArray = "the list given is not an array"

/**
 * The subjects of a call that takes none, for `refusalOfIds`: one list for every call.
 *
 * @internal
 */
export const noSubjects: ReadonlyArray<never> = []

/**
 * Why the ids given are refused, or `undefined` when they are ids: the tenant's, then the list of
 * subjects (an array) and each subject's id in it, read from each entry by `subjectOf` when it is
 * given (`[subject, key]` entries), in place. The one check of the Vault and of every key store,
 * so that they refuse alike: PostgreSQL would quote an id that is not one in its refusal (an
 * address put there) or read an upper-case id as the lower-case one, where the memory store would
 * keep it apart. The text names what is wrong, never a value.
 *
 * @internal
 */
export const refusalOfIds = (
  tenant: unknown,
  subjects: unknown,
  subjectOf?: (entry: unknown) => unknown
): string | undefined => {
  if (!TenantIds.is(tenant)) return notAnId("tenant")
  if (!Array.isArray(subjects)) return notAnArray
  for (const entry of subjects) {
    if (!SubjectIds.is(subjectOf === undefined ? entry : subjectOf(entry))) return notAnId("subject")
  }
  return undefined
}
