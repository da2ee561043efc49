/** @internal Escapes text for an HTML element or a double- or single-quoted attribute. */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (char) => {
    switch (char) {
      case "&":
        return "&amp;"
      case "<":
        return "&lt;"
      case ">":
        return "&gt;"
      case "\"":
        return "&quot;"
      default:
        return "&#39;"
    }
  })

/** @internal A complete HTML document around a body, with a title and print-friendly styles. */
export const htmlDocument = (title: string, body: string): string =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; line-height: 1.45; margin: 2rem; color: #1a1a1a; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0 2rem; }
th, td { border: 1px solid #999; padding: 0.4rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
ul { margin: 0; padding-left: 1.2rem; }
.invalid { color: #a00000; font-weight: 600; }
</style>
</head>
<body>
${body}
</body>
</html>
`

/** @internal An HTML list of escaped items, or a dash when there are none. */
export const htmlList = (items: ReadonlyArray<string>): string =>
  items.length === 0 ? "&#8212;" : `<ul>${items.map((item) => `<li>${escapeHtml(item)}</li>`).join("")}</ul>`
