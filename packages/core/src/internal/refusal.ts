/**
 * The text of the cause with which an id that is not one (not a lower-case
 * UUID) is refused: it names which id, never the value given, which may be an
 * address put in the wrong place.
 *
 * @internal
 */
export const notAnId = (which: "tenant" | "subject"): string => `a ${which} id given is not a lower-case UUID`
