/**
 * Helper process for reboot-crash.test.ts (not a test itself). Usage:
 *   _reboot_crash_worker.ts MODE STATE_DIR CONFIG_DIR NETWORK BRIDGE
 * Kills itself with SIGKILL at one step, exactly as kill -9 leaves it:
 * - `create`: newNetwork, right after the definition is written (the record still `creating`);
 * - `delete`: newNetwork, then delete(), right after the definition is removed (the record
 *   `deleting`);
 * - `restore`: openNetwork of a network defined in CONFIG_DIR whose runtime state is not in
 *   STATE_DIR (as after a reboot), right after the first address is added to its bridge.
 */
import process from "node:process";
import { AddrOps, Definitions, newNetwork, openNetwork } from "../../mod.ts";

const [mode, stateDir, configDir, name, bridgeName] = process.argv.slice(2);
const options = { stateDir, configDir, bridgeName, subnet: "198.51.100.0/24" };
const die = () => process.kill(process.pid, "SIGKILL");
if (mode === "create") {
  const write = Definitions.prototype.write;
  Definitions.prototype.write = function (this: Definitions, ...a: Parameters<typeof write>) {
    write.apply(this, a);
    die();
  };
  await newNetwork("bridge", name, options);
} else if (mode === "delete") {
  const net = await newNetwork("bridge", name, options);
  const remove = Definitions.prototype.remove;
  Definitions.prototype.remove = function (this: Definitions, ...a: Parameters<typeof remove>) {
    remove.apply(this, a);
    die();
  };
  await net.delete();
} else if (mode === "restore") {
  const add = AddrOps.prototype.add;
  AddrOps.prototype.add = function (this: AddrOps, ...args: Parameters<AddrOps["add"]>) {
    add.apply(this, args);
    die();
  };
  await openNetwork(name, { stateDir, configDir });
}
console.log("not killed");
