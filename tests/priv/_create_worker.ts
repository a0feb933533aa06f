/**
 * Helper process for network-recovery.test.ts (not a test itself). Usage:
 *   _create_worker.ts STATE_DIR NETWORK BRIDGE
 * Runs newNetwork("bridge", NETWORK, { bridgeName: BRIDGE, subnet, subnetIPv6 }) and kills itself
 * with SIGKILL right after the first address is added to the bridge: a creation interrupted
 * midway, exactly as kill -9 leaves it.
 */
import process from "node:process";
import { AddrOps, newNetwork } from "../../mod.ts";

const [stateDir, name, bridgeName] = process.argv.slice(2);
const add = AddrOps.prototype.add;
AddrOps.prototype.add = function (this: AddrOps, ...args: Parameters<AddrOps["add"]>) {
  add.apply(this, args);
  process.kill(process.pid, "SIGKILL");
};
await newNetwork("bridge", name, {
  stateDir,
  bridgeName,
  subnet: "198.51.100.0/24",
  subnetIPv6: "2001:db8:1::/64",
});
