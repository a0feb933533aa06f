/**
 * Helper process for lan.test.ts (not a test itself). Usage:
 *   _lan_kill_worker.ts STATE_DIR NETWORK NS_PATH ENDPOINT
 * Opens NETWORK and links ENDPOINT on the fast path into a new namespace at NS_PATH, killing
 * itself with SIGKILL right after the kernel made the macvlan inside the namespace (before the
 * endpoint's record says linked): what a `kill -9` during `link` leaves.
 */
import process from "node:process";
import { LinkOps, newNetworkNamespace, openNetwork } from "../../mod.ts";

const [stateDir, name, nsPath, endpoint] = process.argv.slice(2);
const proto = LinkOps.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
const original = proto.add;
proto.add = function (this: unknown, ...args: unknown[]) {
  const result = original.apply(this, args);
  if ((args[0] as { kind?: string }).kind === "macvlan") process.kill(process.pid, "SIGKILL");
  return result;
};
const network = await openNetwork(name, { stateDir });
const ns = await newNetworkNamespace(nsPath);
await network.link(endpoint, { namespace: ns });
console.error("not killed");
process.exit(1);
