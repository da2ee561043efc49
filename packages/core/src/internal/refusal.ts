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
