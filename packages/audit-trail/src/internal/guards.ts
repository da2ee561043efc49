/**
 * Checks of input whose type the compiler cannot vouch for (a caller's cast, or plain JavaScript).
 *
 * @internal
 */

/** Whether `value` is an object with fields: not `null`, not an array. */
export const isObject = (value: unknown): value is object => typeof value === "object" && value !== null && !Array.isArray(value)
