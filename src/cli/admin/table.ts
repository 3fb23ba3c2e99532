// Plain aligned columns for people; --json is the format for programs.

/** First row is the header; the last column is not padded. */
export function formatTable (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) => r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n').join('')
}
