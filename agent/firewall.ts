/**
 * The agent's firewall duty: nslink's nf_tables table repairs itself while the host's background
 * process runs. {@linkcode FirewallRepair} watches nf_tables change events and re-applies the
 * table from the saved state when someone else flushed or damaged it (`nft flush ruleset`, a
 * firewall service's reload); registered here under the name `firewall-repair`, so every agent —
 * started on demand while any network exists, or `nslink agent` under a service manager — runs it.
 *
 * @module
 */
import { FirewallRepair } from "../firewall/repair.ts";
import { registerDuty } from "./duty.ts";

registerDuty(
  "firewall-repair",
  (ctx) =>
    FirewallRepair.start({
      stateDir: ctx.stateDir,
      onError: (e) => ctx.log(`firewall: ${e instanceof Error ? e.message : String(e)}`),
    }),
);
