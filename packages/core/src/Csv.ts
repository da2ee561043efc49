/**
 * CSV as RFC 4180 writes it, for every package's exports: a field holding a
 * comma, a double quote, CR or LF is enclosed in double quotes with its
 * quotes doubled; each record ends with CRLF.
 *
 * A record of one empty field is written `""`: a bare CRLF would read as a
 * blank line, which many readers skip.
 *
 * A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a
 * carriage return as a formula (CSV injection, OWASP). `spreadsheetText`
 * writes such a cell with a single quote `'` before it, and one that starts
 * with `'` too, so that dropping one leading `'` always gives the value back.
 * A package applies it to the cells whose text can open a formula.
 *
 * ```ts
 * Csv.record(["id", Csv.spreadsheetText(userAgent)]) // "id,'=HYPERLINK(...)\r\n"
 * ```
 *
 * @since 0.1.0
 */

const needsQuotes = /[",\r\n]/

/**
 * One field: quoted when it holds a comma, a double quote, CR or LF, its
 * quotes doubled.
 *
 * @since 0.1.0
 * @category encoding
 */
export const field = (value: string): string => needsQuotes.test(value) ? `"${value.replaceAll("\"", "\"\"")}"` : value

/**
 * One record: its fields, then CRLF; a record of one empty field is `""`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const record = (fields: ReadonlyArray<string>): string =>
  fields.length === 1 && fields[0] === "" ? "\"\"\r\n" : `${fields.map(field).join(",")}\r\n`

/**
 * A header record and the records after it.
 *
 * @since 0.1.0
 * @category encoding
 */
export const document = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [header, ...rows].map(record).join("")

const opensFormula = /^[=+\-@\t\r']/

/**
 * A cell's text as a spreadsheet shows it, never runs it: prefixed with `'`
 * when it starts with `=`, `+`, `-`, `@`, a tab, a carriage return or `'`.
 *
 * @since 0.1.0
 * @category encoding
 */
export const spreadsheetText = (value: string): string => (opensFormula.test(value) ? `'${value}` : value)
