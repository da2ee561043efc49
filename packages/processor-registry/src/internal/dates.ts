/** @internal */
export const dayMillis = 24 * 60 * 60 * 1000

/** @internal `YYYY-MM-DD` of a time, in UTC. */
export const isoDate = (date: Date): string => date.toISOString().slice(0, 10)

/** @internal Whether a date given as a day (inclusive) has passed at `at`: true from the next day on. */
export const dayHasPassed = (day: Date, at: Date): boolean => at.getTime() >= day.getTime() + dayMillis

/** @internal */
export const addDays = (date: Date, days: number): Date => new Date(date.getTime() + days * dayMillis)
