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
