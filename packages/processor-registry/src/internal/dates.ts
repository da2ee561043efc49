import * as Schema from "effect/Schema"

/** @internal */
export const dayMillis = 24 * 60 * 60 * 1000

/** @internal `YYYY-MM-DD` of a time, in UTC. */
export const isoDate = (date: Date): string => date.toISOString().slice(0, 10)

/** @internal The first instant (midnight UTC) of the calendar day, in UTC, of a time. */
export const startOfDay = (date: Date): Date => new Date(Math.floor(date.getTime() / dayMillis) * dayMillis)

/**
 * @internal Whether a day (inclusive) has passed at `at`: true from the first instant of the next
 * calendar day (UTC) on. A time of day the date may carry (a record stored before days were kept
 * as dates) does not count: the day ends at midnight all the same.
 */
export const dayHasPassed = (day: Date, at: Date): boolean => at.getTime() >= startOfDay(day).getTime() + dayMillis

/** @internal Whether a day has begun at `at`: true from its first instant (midnight UTC) on. */
export const dayHasBegun = (day: Date, at: Date): boolean => at.getTime() >= startOfDay(day).getTime()

/** @internal */
export const addDays = (date: Date, days: number): Date => new Date(date.getTime() + days * dayMillis)

const dayPattern = /^([1-9]\d{3})-(\d{2})-(\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/

const isDay = (text: string): boolean => {
  const match = dayPattern.exec(text)
  if (match === null) return false
  // A time, when given, must be one: "2025-01-10T25:00Z" is refused, not rolled over.
  if (Number.isNaN(new Date(text).getTime())) return false
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])]
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

/**
 * @internal A day: a calendar day, decoded as its first instant (midnight UTC).
 * Written `YYYY-MM-DD`, or as an ISO 8601 time with `Z` or an offset (as
 * `Date#toISOString` writes it): the day is then the date as written, and the
 * time and offset after it are dropped ("2027-03-01T23:30:00-02:00" is 1 March
 * 2027, though it is 2 March in UTC). A real calendar day of the years 1000 to
 * 9999; zone-less times, other formats and impossible days ("2025-02-30") are
 * refused rather than read in the server's time zone or rolled over into
 * another day. Encoded as `Date#toISOString` writes it, which decodes to the
 * same day.
 */
export const Day: Schema.Schema<Date, string> = Schema.String.pipe(
  Schema.filter(isDay, {
    message: () =>
      "a date is written YYYY-MM-DD (or as an ISO 8601 time with Z or an offset), a real calendar day of the years 1000 to 9999"
  }),
  Schema.compose(
    Schema.transform(Schema.String, Schema.String, {
      strict: true,
      decode: (text) => `${text.slice(0, 10)}T00:00:00.000Z`,
      encode: (text) => text
    })
  ),
  Schema.compose(Schema.Date)
)
