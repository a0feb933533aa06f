/**
 * `nslink gc`: reconciles nslink's state with the kernel after crashes (the library's `gc()`):
 * finishes or undoes interrupted operations, removes endpoints whose links and namespace are
 * gone, orphaned links carrying nslink's alias, stray address reservations and temp files.
 *
 * @module
 */
import { gc } from "../network/gc.ts";
import { defaultStateDir } from "../network/state.ts";
import { type Command, FORMAT_OPTION } from "./command.ts";

const SECTIONS = ["networks", "endpoints", "addresses", "links", "files", "foreign"] as const;

/** `nslink gc`. */
export const gcCommand: Command = {
  path: ["gc"],
  summary: "Remove what crashed processes left: stale endpoints, orphaned links, temp files",
  operands: "",
  min: 0,
  max: 0,
  options: {
    "dry-run": { type: "boolean", help: "Only report what would be removed" },
    format: FORMAT_OPTION,
  },
  notes: `Safe while other processes use the same networks (it holds the state lock).
Links of networks this state directory does not know (another state directory's, an overlay
network's, one on an adopted bridge) are reported as foreign and left alone while their network
is alive: a link carries its bridge alias, or one of its links is on a bridge.`,
  async run({ values, io, format }) {
    const report = await gc({ stateDir: defaultStateDir(), dryRun: values["dry-run"] === true });
    if (format === "json") return io.out(JSON.stringify(report, null, 2) + "\n");
    const verb = report.dryRun ? "would remove" : "removed";
    let any = false;
    for (const section of SECTIONS) {
      for (const item of report[section]) {
        any = true;
        io.out(
          `${
            section === "foreign" ? "foreign (left alone)" : `${verb} ${section.replace(/s$/, "")}`
          }: ${item}\n`,
        );
      }
    }
    // What gc could not do (it went on with the rest): on stderr, one line each.
    for (const item of report.errors) io.err(`nslink gc: ${item}\n`);
    if (!any) io.out("nothing to collect\n");
  },
};
