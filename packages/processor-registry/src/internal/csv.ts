import * as Csv from "@lawful/core/Csv"

/**
 * @internal The record's CSV: RFC 4180 (`@lawful/core/Csv`), every cell as a spreadsheet shows
 * it, never runs it (`Csv.spreadsheetText`): the record's text is typed by people.
 */
export const csvDocument = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string =>
  Csv.document(header.map(Csv.spreadsheetText), rows.map((row) => row.map(Csv.spreadsheetText)))
