import * as Schema from "effect/Schema"

/** @internal */
export const dayMillis = 24 * 60 * 60 * 1000

/** @internal `YYYY-MM-DD` of a time, in UTC. */
export const isoDate = (date: Date): string => date.toISOString().slice(0, 10)

/** @internal Whether a date given as a day (inclusive) has passed at `at`: true from the next day on. */
export const dayHasPassed = (day: Date, at: Date): boolean => at.getTime() >= day.getTime() + dayMillis

/** @internal */
export const addDays = (date: Date, days: number): Date => new Date(date.getTime() + days * dayMillis)

const dayPattern = /^([1-9]\d{3})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/

const isDay = (text: string): boolean => {
  const match = dayPattern.exec(text)
  if (match === null) return false
  // The instant too, not only the day as written, is in the years 1000 to 9999: an offset can
  // move "1000-01-01T00:30:00+01:00" into year 999, which `Date#toISOString` writes in a form
  // this schema (and so a stored record read back) refuses.
  const instant = new Date(text)
  if (Number.isNaN(instant.getTime()) || instant.getUTCFullYear() < 1000 || instant.getUTCFullYear() > 9999) return false
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

/**
 * @internal A date given as a day: `YYYY-MM-DD` (midnight UTC), or an ISO 8601
 * time with `Z` or an offset (as `Date#toISOString` writes it), a real calendar
 * day of the years 1000 to 9999, at an instant of those years in UTC too (so
 * that the date, written back as `toISOString` writes it, decodes again on every
 * store). Zone-less times, other formats and impossible
 * days ("2025-02-30") are refused rather than read in the server's time zone
 * or rolled over into another day.
 */
export const Day: Schema.Schema<Date, string> = Schema.String.pipe(
  Schema.filter(isDay, {
    message: () =>
      "a date is written YYYY-MM-DD (or as an ISO 8601 time with Z or an offset), a real calendar day of the years 1000 to 9999"
  }),
  Schema.compose(Schema.Date)
)
