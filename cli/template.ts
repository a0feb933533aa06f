/**
 * `--format` templates as Docker takes them: the subset of Go's text/template that Docker users
 * type. Fields (`{{.Name}}`, `{{.IPAM.Driver}}`), `{{json .}}` and `{{json .Field}}`, literal text,
 * `\t` and `\n` written as two characters (the shell passes them so), and a leading `table `, which
 * adds a header row (the field names in capitals, `ID` as `NETWORK ID`) and aligns the columns
 * that tabs separate, like Docker's tabwriter. Anything else in `{{…}}` is refused with one line.
 *
 * @module
 */

/** A `--format` template that cannot be parsed or evaluated. */
export class TemplateError extends Error {
  /**
   * @param message What is wrong, one line.
   */
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

type Part = { text: string } | { path: string[]; json: boolean };

/** Docker's header for a field in a `table` template. */
const HEADERS: Record<string, string> = { ID: "NETWORK ID", Id: "NETWORK ID" };

/**
 * Whether a `--format` value is a template (holds `{{`), rather than a word like `json`.
 *
 * @example
 * ```ts
 * import { isTemplate } from "./template.ts";
 * isTemplate("{{.Name}}"); // true
 * isTemplate("json"); // false
 * ```
 * @param format The value of `--format`.
 * @returns Whether it is a template.
 */
export function isTemplate(format: string): boolean {
  return format.includes("{{");
}

function parse(format: string): Part[] {
  const parts: Part[] = [];
  let rest = format.replaceAll("\\t", "\t").replaceAll("\\n", "\n");
  while (rest.length > 0) {
    const open = rest.indexOf("{{");
    if (open < 0) {
      parts.push({ text: rest });
      break;
    }
    if (open > 0) parts.push({ text: rest.slice(0, open) });
    const close = rest.indexOf("}}", open + 2);
    if (close < 0) {
      throw new TemplateError(`template: unclosed action in ${JSON.stringify(format)}`);
    }
    const action = rest.slice(open + 2, close).replace(/^-?\s*|\s*-?$/g, "");
    const m = /^(json\s+)?\.([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)?$/.exec(action);
    if (!m) {
      throw new TemplateError(
        `template: unsupported action {{${action}}}: use {{.Field}} or {{json .}}`,
      );
    }
    parts.push({ path: m[2] ? m[2].split(".") : [], json: m[1] !== undefined });
    rest = rest.slice(close + 2);
  }
  return parts;
}

function lookup(value: unknown, path: string[]): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      throw new TemplateError(`template: can't evaluate field ${key}`);
    }
    const obj = v as Record<string, unknown>;
    // Exact as Go, else the one key that differs only in case (`.ID` for inspect's `Id`).
    const found = key in obj
      ? key
      : Object.keys(obj).find((k) => k.toLowerCase() === key.toLowerCase());
    if (found === undefined) throw new TemplateError(`template: can't evaluate field ${key}`);
    v = obj[found];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined || v === null) return "<no value>";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function render(parts: Part[], value: unknown): string {
  return parts.map((p) => {
    if ("text" in p) return p.text;
    const v = lookup(value, p.path);
    return p.json ? JSON.stringify(v ?? null) : show(v);
  }).join("");
}

/** Aligns tab-separated cells as Docker's tabwriter (min width 10, padding 3). */
function align(lines: string[]): string {
  const rows = lines.map((l) => l.split("\t"));
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      if (i < r.length - 1) widths[i] = Math.max(widths[i] ?? 0, Math.max(c.length + 3, 10));
    });
  }
  return rows.map((r) =>
    r.map((c, i) => i < r.length - 1 ? c.padEnd(widths[i]) : c).join("").trimEnd() + "\n"
  ).join("");
}

/**
 * Renders values through a `--format` template, one line per value.
 *
 * @example
 * ```ts
 * import { renderTemplate } from "./template.ts";
 * renderTemplate("{{.Name}}", [{ Name: "blue" }]); // "blue\n"
 * renderTemplate("table {{.Name}}\\t{{.Driver}}", [{ Name: "blue", Driver: "bridge" }]);
 * // "NAME      DRIVER\nblue      bridge\n"
 * ```
 * @param format The template (a `table ` prefix adds a header and aligns columns).
 * @param values The values, e.g. one object per network.
 * @returns The text, each line ending with a newline.
 * @throws {TemplateError} On an action outside the subset or a field the values lack.
 */
export function renderTemplate(format: string, values: unknown[]): string {
  const table = /^table(\s|$)/.test(format);
  const parts = parse(table ? format.replace(/^table\s*/, "") : format);
  if (!table) return values.map((v) => render(parts, v) + "\n").join("");
  const header = parts.map((p) => {
    if ("text" in p) return p.text;
    if (p.path.length === 0) return "";
    const last = p.path[p.path.length - 1];
    return HEADERS[last] ?? last.replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
  }).join("");
  const lines = [header, ...values.map((v) => render(parts, v))];
  return align(lines.flatMap((l) => l.split("\n")));
}
