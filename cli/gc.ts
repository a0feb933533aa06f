/**
 * `nslink gc`: reconciles nslink's state with the kernel after crashes (the library's `gc()`):
 * finishes or undoes interrupted operations, removes endpoints whose links and namespace are
 * gone, orphaned links carrying nslink's alias, stray address reservations and temp files.
 *
 * @module
 */
import { forwardDropWarnings } from "../firewall/firewall.ts";
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
is alive: a link carries its bridge alias, or one of its links is on a bridge.
When gc could not do part of its work (a record it cannot read, a kernel error), it goes on
with the rest, prints each error on stderr and exits 1 (with --dry-run too).
With --dry-run it also warns about another table's forward chain with policy drop, which drops
container traffic nslink's table accepts (see the README's troubleshooting).`,
  async run({ values, io, format }) {
    const report = await gc({ stateDir: defaultStateDir(), dryRun: values["dry-run"] === true });
    // Not gc's to fix, but worth saying: another table drops forwarded traffic.
    const warnings = report.dryRun ? forwardDropWarnings() : [];
    // What gc could not do (it went on with the rest): on stderr, one line each, and exit 1,
    // so that a script or a timer unit sees that the work is not done (also with --dry-run).
    const failed = (): number => {
      for (const item of report.errors) io.err(`nslink gc: ${item}\n`);
      return report.errors.length > 0 ? 1 : 0;
    };
    if (format === "json") {
      io.out(JSON.stringify(warnings.length ? { ...report, warnings } : report, null, 2) + "\n");
      return failed();
    }
    for (const w of warnings) io.out(`warning: ${w}\n`);
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
    if (!any && report.errors.length === 0) io.out("nothing to collect\n");
    return failed();
  },
};
