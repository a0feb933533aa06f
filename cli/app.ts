/**
 * The `nslink` command: finds the subcommand named by the first words, parses the rest, runs it,
 * and turns failures into one line on stderr: status 1 when the work failed (the library's
 * message), 2 for a usage error (with the help to read).
 *
 * @module
 */
import { agentCommand } from "./agent.ts";
import { type Command, helpText, parseCommand } from "./command.ts";
import { completionCommand } from "./completion.ts";
import { eventsCommand } from "./events.ts";
import { gcCommand } from "./gc.ts";
import type { Output } from "./io.ts";
import { netnsCommands } from "./netns.ts";
import { networkCommands } from "./network.ts";
import { portCommand } from "./port.ts";
import { reloadCommand } from "./reload.ts";
import { UsageError } from "./usage.ts";
import { versionCommand } from "./version.ts";

/** Every subcommand. */
export const COMMANDS: Command[] = [
  ...networkCommands,
  reloadCommand,
  ...netnsCommands,
  portCommand,
  gcCommand,
  agentCommand,
  eventsCommand,
  versionCommand,
];

/** Command groups and their summaries. */
export const GROUPS: Record<string, string> = {
  network: "Manage networks",
  netns: "Manage network namespaces",
};

// Generated from the same declarations as the help (this list, which it joins).
COMMANDS.push(completionCommand(() => ({ commands: COMMANDS, groups: GROUPS })));

function groupHelp(group: string): string {
  const cmds = COMMANDS.filter((c) => c.path[0] === group && c.path.length === 2);
  const width = Math.max(...cmds.map((c) => c.path[1].length));
  return [
    `Usage: nslink ${group} COMMAND`,
    "",
    GROUPS[group],
    "",
    "Commands:",
    ...cmds.map((c) => `  ${c.path[1].padEnd(width)}  ${c.summary}`),
    "",
    `Run 'nslink ${group} COMMAND --help' for more information on a command.`,
  ].join("\n") + "\n";
}

/**
 * The top-level help.
 *
 * @returns The text.
 */
export function mainHelp(): string {
  const entries: [string, string][] = [
    ...Object.entries(GROUPS),
    ...COMMANDS.filter((c) => c.path.length === 1).map((
      c,
    ): [string, string] => [c.path[0], c.summary]),
  ];
  const width = Math.max(...entries.map(([n]) => n.length));
  return [
    "Usage: nslink COMMAND",
    "",
    "Container networks for people and scripts (Docker's vocabulary), and a CNI plugin:",
    "with CNI_COMMAND set, nslink speaks the CNI protocol on stdin/stdout instead.",
    "",
    "Commands:",
    ...entries.map(([n, s]) => `  ${n.padEnd(width)}  ${s}`),
    "",
    "Run 'nslink COMMAND --help' for more information on a command.",
    "State: /run/nslink, or $NSLINK_STATE_DIR. Needs root.",
    "Network definitions (kept across reboots): /var/lib/nslink, or $NSLINK_CONFIG_DIR.",
  ].join("\n") + "\n";
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * Runs the command line `argv` (without the program name), writing to `io`.
 *
 * @example
 * ```ts ignore
 * const status = await runCli(["network", "ls", "--format", "json"], stdio);
 * ```
 * @param argv The arguments.
 * @param io Where to write.
 * @returns The exit status: 0, 1 (the work failed) or 2 (usage error).
 */
export async function runCli(argv: string[], io: Output): Promise<number> {
  try {
    const [first, second] = argv;
    if (first === undefined) {
      io.out(mainHelp());
      return 0;
    }
    if (first === "--help" || first === "-h" || first === "help") {
      io.out(mainHelp());
      return 0;
    }
    if (first === "--version" || first === "-v") argv = ["version", ...argv.slice(1)];
    let cmd: Command | undefined;
    let rest: string[] = [];
    if (GROUPS[argv[0]] !== undefined) {
      if (second === undefined || second === "--help" || second === "-h") {
        if (second === undefined) {
          io.err(groupHelp(first));
          return 2;
        }
        io.out(groupHelp(first));
        return 0;
      }
      cmd = COMMANDS.find((c) => c.path[0] === first && c.path[1] === second);
      if (!cmd) {
        throw new UsageError(
          `Unknown command "nslink ${first} ${second}"`,
          `nslink ${first} --help`,
        );
      }
      rest = argv.slice(2);
    } else {
      cmd = COMMANDS.find((c) => c.path.length === 1 && c.path[0] === argv[0]);
      if (!cmd) throw new UsageError(`Unknown command "${argv[0]}"`, "nslink --help");
      rest = argv.slice(1);
    }
    const { values, args, help } = parseCommand(cmd, rest);
    if (help) {
      io.out(helpText(cmd));
      return 0;
    }
    const status = await cmd.run({
      values,
      args,
      io,
      format: values.format === "json" ? "json" : "table",
      hint: `nslink ${cmd.path.join(" ")} --help`,
    });
    return status ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`nslink: ${oneLine(e.message)} (see '${e.hint}')\n`);
      return 2;
    }
    io.err(`nslink: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
    return 1;
  }
}
