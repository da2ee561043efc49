/** @internal One RFC 4180 field: quoted when it holds a comma, a double quote, CR or LF; quotes doubled. */
export const csvField = (value: string): string => /[",\r\n]/.test(value) ? `"${value.replaceAll("\"", "\"\"")}"` : value

/** @internal RFC 4180 text: a header row and records, each line ended by CRLF. */
export const csvDocument = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  [header, ...rows].map((row) => row.map(csvField).join(",") + "\r\n").join("")
