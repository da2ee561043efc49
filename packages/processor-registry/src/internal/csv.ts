// A cell that a spreadsheet would read as a formula (it opens with = + - @, a tab or a carriage
// return) gets a leading apostrophe, so that the spreadsheet shows it as text ("CSV injection").
const formulaStart = /^[=+\-@\t\r]/

/**
 * @internal One RFC 4180 field: a leading `'` when it would open a spreadsheet formula, then
 * quoted when it holds a comma, a double quote, CR or LF; quotes doubled.
 */
export const csvField = (raw: string): string => {
  const value = formulaStart.test(raw) ? `'${raw}` : raw
  return /[",\r\n]/.test(value) ? `"${value.replaceAll("\"", "\"\"")}"` : value
}

/** @internal RFC 4180 text: a header row and records, each line ended by CRLF. */
export const csvDocument = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [header, ...rows].map((row) => row.map(csvField).join(",") + "\r\n").join("")
