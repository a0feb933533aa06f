/**
 * How a subcommand is declared and parsed: its words, its options (parsed by `node:util`'s
 * `parseArgs`, strict, in both runtimes), how many operands it takes, and its help text, which
 * is generated from the same declaration so it cannot drift from what is accepted.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Output } from "./io.ts";
import { isTemplate } from "./template.ts";
import { UsageError } from "./usage.ts";

/** One option of a command. */
export interface OptionSpec {
  /** `string` takes a value, `boolean` is a switch. */
  type: "string" | "boolean";
  /** One-letter alias, e.g. `p` for `-p`. */
  short?: string;
  /** May be given several times (values collected in order). */
  multiple?: boolean;
  /** The value's name in the help, e.g. `CIDR`. */
  value?: string;
  /** One line of help. */
  help: string;
  /**
   * The values accepted, the first being the default; the help lists them, and the parser
   * refuses any other (so help and parser cannot disagree).
   */
  choices?: string[];
  /** Also accepts a Go template (`--format '{{.Name}}'`, see `template.ts`). */
  template?: boolean;
}

/** Parsed option values, by option name. */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** What a command's `run` gets. */
export interface Context {
  /** Option values. */
  values: Values;
  /** Operands (positional arguments). */
  args: string[];
  /** Where to write. */
  io: Output;
  /** `json` when `--format json` was given, else `table`. */
  format: "table" | "json";
  /** The command's help hint, for usage errors found while running: `nslink … --help`. */
  hint: string;
}

/** A subcommand. */
export interface Command {
  /** The words that select it, e.g. `["network", "create"]`. */
  path: string[];
  /** What it does, one line. */
  summary: string;
  /** The operands in the usage line, e.g. `NAME`. */
  operands: string;
  /** Fewest operands. */
  min: number;
  /** Most operands (`Infinity` for a list). */
  max: number;
  /** Options besides `--help`. */
  options: Record<string, OptionSpec>;
  /** Extra help after the options (examples, notes). */
  notes?: string;
  /** Does the work; returns the exit status (0 when nothing is returned). */
  run(ctx: Context): Promise<number | void>;
}

/** The `--format` option shared by listing commands. */
export const FORMAT_OPTION: OptionSpec = {
  type: "string",
  value: "FORMAT",
  help: "Output format",
  choices: ["table", "json"],
};

/**
 * An option's help line: its help, the values it accepts (the first is the default), whether a
 * template is accepted, and `(repeatable)`.
 *
 * @example
 * ```ts
 * import { FORMAT_OPTION, optionHelp } from "./command.ts";
 * optionHelp(FORMAT_OPTION); // "Output format: table (default), json"
 * ```
 * @param o The option.
 * @returns The line.
 */
export function optionHelp(o: OptionSpec): string {
  let h = o.help;
  if (o.choices) {
    h += `: ${o.choices.map((c, i) => i === 0 ? `${c} (default)` : c).join(", ")}`;
    if (o.template) h += ", or a Go template ('{{.Name}}', 'table {{.Name}}\\t{{.Driver}}')";
  }
  return h + (o.multiple ? " (repeatable)" : "");
}

/**
 * The help text of a command: usage line, summary, options, notes.
 *
 * @example
 * ```ts ignore
 * io.out(helpText(command));
 * ```
 * @param cmd The command.
 * @returns The text, ending with a newline.
 */
export function helpText(cmd: Command): string {
  const opts = Object.keys(cmd.options).length > 0 ? " [OPTIONS]" : "";
  const lines = [
    `Usage: nslink ${cmd.path.join(" ")}${opts}${cmd.operands ? ` ${cmd.operands}` : ""}`,
    "",
    cmd.summary,
    "",
    "Options:",
  ];
  const rows: [string, string][] = Object.entries(cmd.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.value ? ` ${o.value}` : ""}`;
    return [flag, optionHelp(o)];
  });
  rows.push(["-h, --help", "Show this help"]);
  const width = Math.max(...rows.map(([f]) => f.length));
  for (const [f, h] of rows) lines.push(`  ${f.padEnd(width)}  ${h}`);
  if (cmd.notes) lines.push("", cmd.notes.trimEnd());
  return lines.join("\n") + "\n";
}

/**
 * Parses a command's arguments (after its words). `--help` is handled by the caller through the
 * returned `help` flag; every other problem is a {@linkcode UsageError}.
 *
 * @example
 * ```ts ignore
 * const { values, args } = parseCommand(command, ["--subnet", "198.51.100.0/24", "blue"]);
 * ```
 * @param cmd The command.
 * @param argv Its arguments.
 * @returns Option values, operands, and whether help was asked for.
 */
export function parseCommand(
  cmd: Command,
  argv: string[],
): { values: Values; args: string[]; help: boolean } {
  const hint = `nslink ${cmd.path.join(" ")} --help`;
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = { help: { type: "boolean", short: "h" } };
  for (const [name, o] of Object.entries(cmd.options)) {
    options[name] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
    };
  }
  // Docker's `--ipv6=false` / `--internal=true`: a boolean option given a value. `true` is the
  // switch itself; `false` is recorded as false (an option given both ways: the last wins).
  const explicit: Record<string, boolean> = {};
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      args.push(...argv.slice(i));
      break;
    }
    const m = /^--([^=]+)=(true|false)$/.exec(a);
    if (m && cmd.options[m[1]]?.type === "boolean") {
      explicit[m[1]] = m[2] === "true";
      continue;
    }
    if (a.startsWith("--") && cmd.options[a.slice(2)]?.type === "boolean") {
      delete explicit[a.slice(2)];
    }
    args.push(a);
  }
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true }) as {
      values: Values;
      positionals: string[];
    };
  } catch (e) {
    // parseArgs' messages are one line after the first sentence; keep that sentence.
    const msg = e instanceof Error ? e.message.split(". To specify")[0] : String(e);
    throw new UsageError(msg.replace(/\.$/, ""), hint);
  }
  const { values, positionals } = parsed;
  Object.assign(values, explicit);
  if (values.help === true) return { values, args: positionals, help: true };
  if (positionals.length < cmd.min) {
    throw new UsageError(
      `"nslink ${cmd.path.join(" ")}" needs ${cmd.operands || "no operands"}`,
      hint,
    );
  }
  if (positionals.length > cmd.max) {
    throw new UsageError(
      `"nslink ${cmd.path.join(" ")}" takes ${
        cmd.max === 0 ? "no operands" : `at most ${cmd.max} operand${cmd.max > 1 ? "s" : ""}`
      }, got ${JSON.stringify(positionals.slice(cmd.max)[0])}`,
      hint,
    );
  }
  for (const [name, o] of Object.entries(cmd.options)) {
    const v = values[name];
    if (!o.choices || typeof v !== "string" || o.choices.includes(v)) continue;
    if (o.template && isTemplate(v)) continue;
    throw new UsageError(
      `Unknown --${name} ${JSON.stringify(v)}: use ${o.choices.join(" or ")}${
        o.template ? " or a Go template" : ""
      }`,
      hint,
    );
  }
  return { values, args: positionals, help: false };
}
