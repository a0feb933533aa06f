/**
 * Plain text tables for people (`docker network ls` style): a header row in capitals, columns
 * padded with spaces, no borders. Scripts use `--format json` instead.
 *
 * @module
 */

/**
 * Formats rows under headers, each column as wide as its widest cell, three spaces apart.
 *
 * @example
 * ```ts
 * import { formatTable } from "./table.ts";
 * formatTable(["NAME", "DRIVER"], [["blue", "bridge"]]);
 * // "NAME   DRIVER\nblue   bridge\n"
 * ```
 * @param headers The column titles.
 * @param rows The cells, one array per row.
 * @returns The table, one line per row, ending with a newline.
 */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : (c ?? "").padEnd(widths[i])).join("   ")
      .trimEnd() + "\n";
  return [headers, ...rows].map(line).join("");
}
