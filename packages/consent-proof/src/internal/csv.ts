/**
 * RFC 4180 fields: a field containing a comma, a double quote, CR or LF is
 * enclosed in double quotes, and each double quote inside it is doubled.
 * Records end with CRLF.
 *
 * @internal
 */
const needsQuotes = /[",\r\n]/

export const csvField = (value: string): string =>
  needsQuotes.test(value) ? `"${value.replaceAll("\"", "\"\"")}"` : value

export const csvRecord = (fields: ReadonlyArray<string>): string => `${fields.map(csvField).join(",")}\r\n`

// A spreadsheet runs a cell that starts with one of `= + - @`, a tab or a carriage return as a
// formula (OWASP, CSV injection); a cell starting with `'` is prefixed too, so that dropping one
// leading `'` always gives the value back.
const opensFormula = /^[=+\-@\t\r']/

/**
 * A cell of text that comes from outside (a user agent, a form id): prefixed with `'` when a
 * spreadsheet would read it as a formula, or when it starts with `'` itself.
 *
 * @internal
 */
export const outsideText = (value: string): string => (opensFormula.test(value) ? `'${value}` : value)
