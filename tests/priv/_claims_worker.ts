/**
 * Helper process for claims-race.test.ts (not a test itself). Usage:
 *   _claims_worker.ts STATE_DIR NETWORK ENDPOINT NS_PATH ROUNDS [SLOW_MS]
 * Reopens NETWORK and, ROUNDS times: makes a namespace at NS_PATH, links ENDPOINT into it (fast
 * path), adds the interface, deletes the namespace and unlinks at once (the kernel is still
 * removing the veth pair, so the endpoint is left releasing, and the next `link` of any
 * endpoint, here or in the other worker, settles it). It keeps each namespace 20 ms and prints
 * "hold ADDRESS FROM TO" (ms since the epoch) for that time, and "done" at the end; any error
 * exits with code 1, message on stderr.
 *
 * With SLOW_MS, every address release by this process waits that long first (a synchronous
 * sleep inside the locked section), which widens the window in which a release settled from a
 * stale read meets the same name's newer link in the other process.
 */
import process from "node:process";
import { existsSync } from "node:fs";
import { FileStore, NetNs, newNetworkNamespace, openNetwork } from "../../mod.ts";

const [stateDir, name, endpoint, path, roundsText, slowText] = process.argv.slice(2);
if (slowText) {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const proto = FileStore.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const release = proto.release;
  proto.release = function (this: unknown, ...args: unknown[]) {
    Atomics.wait(nap, 0, 0, Number(slowText));
    return release.apply(this, args);
  };
}
const network = await openNetwork(name, { stateDir });
for (let i = 0; i < Number(roundsText); i++) {
  if (existsSync(path)) NetNs.remove(path, { missingOk: true });
  const ns = await newNetworkNamespace(path);
  const ifaces = await network.link(endpoint, { namespace: ns });
  for (const iface of ifaces) await ns.addInterface(iface);
  const from = Date.now();
  await new Promise((r) => setTimeout(r, 20));
  process.stdout.write(`hold ${ifaces[0]?.address} ${from} ${Date.now()}\n`);
  await ns.delete();
  await network.unlink(endpoint);
}
process.stdout.write("done\n");
process.exit(0);
