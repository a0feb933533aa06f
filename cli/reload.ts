/**
 * `nslink network reload` (Podman's name): re-applies nslink's firewall (masquerade, isolation,
 * every published port) from the saved state, the library's `repairFirewall()`, after something
 * removed it (`nft flush ruleset`, a firewall service's reload). With firewalld running, nslink's
 * bridges are put back in its `nslink` zone too. The host's background process does this by
 * itself when it runs; the command stays for explicit use.
 *
 * @module
 */
import process from "node:process";
import { forwardDropWarnings } from "../firewall/firewall.ts";
import { FirewallRepair } from "../firewall/repair.ts";
import { firewalldRunning } from "../firewall/firewalld.ts";
import { systemBusPresent } from "../firewall/zone.ts";
import { listNetworks, repairFirewall } from "../network/network.ts";
import { defaultStateDir } from "../network/state.ts";
import { type Command, FORMAT_OPTION } from "./command.ts";
import type { Output } from "./io.ts";

/** `nslink network reload`. */
export const reloadCommand: Command = {
  path: ["network", "reload"],
  summary: "Re-apply the firewall of every network from the saved state (after a flush)",
  operands: "",
  min: 0,
  max: 0,
  options: {
    all: {
      type: "boolean",
      short: "a",
      help: "Every network (the default; accepted for Podman's sake)",
    },
    watch: {
      type: "boolean",
      help: "Then keep watching nf_tables events and repair the firewall whenever another " +
        "process flushes or deletes it, until SIGINT or SIGTERM",
    },
    format: FORMAT_OPTION,
  },
  notes: "Example, after `systemctl reload nftables` or `nft flush ruleset`:\n" +
    "  nslink network reload\n" +
    "Idempotent: the whole table is replaced in one atomic batch.\n" +
    "With --watch it stays in the foreground (for a service manager) and prints one line per\n" +
    "repair: `repaired (table, 1 batch)`.",
  async run({ values, io, format }) {
    const stateDir = defaultStateDir();
    await repairFirewall({ stateDir });
    const firewalld = systemBusPresent() && await firewalldRunning();
    const networks = listNetworks({ stateDir });
    const warnings = forwardDropWarnings();
    if (format === "json") {
      io.out(JSON.stringify({ networks, firewalld, warnings }, null, 2) + "\n");
      return;
    }
    for (const w of warnings) io.err(`nslink: warning: ${w}\n`);
    io.out(`reloaded the firewall of ${networks.length} network(s)\n`);
    if (values.watch === true) await watch(stateDir, io);
  },
};

async function watch(stateDir: string, io: Output): Promise<void> {
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  const onSignal = () => stop();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const ac = new AbortController();
  const duty = new FirewallRepair({
    stateDir,
    repairAtStart: false, // just reloaded
    onRepair: (r) =>
      io.out(`repaired (${r.reason}, ${r.batches} batch${r.batches === 1 ? "" : "es"})\n`),
    onError: (e) => io.err(`nslink: firewall repair failed: ${(e as Error).message}\n`),
  });
  const done = duty.run(ac.signal);
  try {
    io.err("watching nf_tables events\n");
    await Promise.race([stopped, done]);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    ac.abort();
    await done;
  }
  io.out("stopped\n");
}
