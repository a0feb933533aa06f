/**
 * Helper process for network-kill.test.ts (not a test itself). Usage:
 *   _kill_worker.ts STATE_DIR NETWORK NS_PREFIX START POINT NTH
 * Reopens NETWORK and loops forever, as a restart-safe workload does: for endpoint `k{i % 3}`
 * (alternating the seed and the fast path) it removes what a killed predecessor may have left
 * (the namespace at NS_PREFIX{i % 3}, then `unlink`), makes a namespace, links, adds the
 * interface, deletes the namespace and unlinks. Prints "started" once the network is open.
 *
 * With POINT (not "-"), it kills itself with SIGKILL at the NTH time it reaches POINT, one of
 * the steps inside link/unlink (see POINTS), so kills land exactly there; the parent kills it at
 * random moments otherwise. Any error exits with code 1 and the message on stderr.
 */
import process from "node:process";
import { existsSync } from "node:fs";
import { FileStore, LinkOps, NetNs, newNetworkNamespace, openNetwork, Rtnl } from "../../mod.ts";

const [stateDir, name, nsPrefix, startText, point, nthText] = process.argv.slice(2);
let start = Number(startText);
const nth = Number(nthText);

function die(): never {
  process.kill(process.pid, "SIGKILL");
  // SIGKILL cannot be caught; this only satisfies the type checker.
  throw new Error("unreachable");
}

if (point !== "-") {
  const [method, when] = point.split(":");
  const proto = (method === "add"
    ? LinkOps.prototype
    : method === "batch"
    ? Rtnl.prototype
    : FileStore.prototype) as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = proto[method];
  let seen = 0;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    if (when === "before" && ++seen === nth) {
      die();
    }
    const result = original.apply(this, args);
    if (when === "after" && ++seen === nth) {
      die();
    }
    return result;
  };
}

const network = await openNetwork(name, { stateDir });
console.log("started");
for (let i = start;; i++) {
  const k = i % 3;
  const endpoint = `k${k}`;
  const path = `${nsPrefix}${k}`;
  // What a killed predecessor may have left: its namespace, its endpoint.
  if (existsSync(path)) NetNs.remove(path, { missingOk: true });
  await network.unlink(endpoint);
  const ns = await newNetworkNamespace(path);
  const fast = i % 2 === 1;
  const ifaces = await network.link(endpoint, fast ? { namespace: ns } : {});
  for (const iface of ifaces) await ns.addInterface(iface);
  await ns.delete();
  await network.unlink(endpoint);
  start = i;
}
