/**
 * Helper process for ports-crash.test.ts (not a test itself). Usage:
 *   _ports_worker.ts STATE_DIR OP NETWORK ENDPOINT N [BRIDGE]
 * Runs one operation with published ports (OP: `link`, `publish`, `unpublish`, `create`,
 * `delete`) and kills itself with SIGKILL at its Nth step: a step is the moment before or after
 * one call that changes the state or the kernel (state records and claims, nf_tables batches,
 * link requests). Prints "step N" on stdout just before dying there; prints "done" and exits 0
 * when the operation finished before step N. Any error exits with code 1, message on stderr.
 */
import process from "node:process";
import {
  FileStore,
  LinkOps,
  newNetwork,
  Nftables,
  openNetwork,
  Rtnl,
  StateStore,
} from "../../mod.ts";

const [stateDir, op, name, endpoint, nText, bridgeName] = process.argv.slice(2);
const n = Number(nText);

/** The host ports every operation uses (the test checks them). */
const LINK_PORTS = [
  { hostIP: "127.0.0.1", hostPort: 18080, port: 80 },
  { hostPort: 18081, port: 81 },
];
const PUBLISH_PORTS = [
  { hostIP: "127.0.0.1", hostPort: 18090, port: 90 },
  { hostPort: 18091, port: 91, protocol: "udp" },
];

let step = 0;
function at(): void {
  if (++step !== n) return;
  process.stdout.write(`step ${n}\n`);
  process.kill(process.pid, "SIGKILL");
}

function hook(proto: object, methods: readonly string[]): void {
  const p = proto as Record<string, (...args: unknown[]) => unknown>;
  for (const m of methods) {
    const original = p[m];
    p[m] = function (this: unknown, ...args: unknown[]) {
      at();
      const result = original.apply(this, args);
      at();
      return result;
    };
  }
}

hook(FileStore.prototype, [
  "createEndpoint",
  "writeEndpoint",
  "removeEndpoint",
  "reserve",
  "release",
  "markReleasing",
  "createNetwork",
  "writeNetwork",
  "removeNetwork",
]);
hook(StateStore.prototype, ["claim", "unclaim", "removeKind"]);
hook(Nftables.prototype, ["commit"]);
hook(LinkOps.prototype, ["add", "del"]);
hook(Rtnl.prototype, ["batch"]);

const ports = LINK_PORTS;
if (op === "link") {
  const network = await openNetwork(name, { stateDir });
  await network.link(endpoint, { ports });
} else if (op === "publish") {
  const network = await openNetwork(name, { stateDir });
  await network.publish(endpoint, PUBLISH_PORTS);
} else if (op === "unpublish") {
  const network = await openNetwork(name, { stateDir });
  await network.unpublish(endpoint);
} else if (op === "create") {
  await newNetwork("bridge", name, { stateDir, bridgeName, subnet: "203.0.113.0/26", dns: false });
} else if (op === "delete") {
  const network = await openNetwork(name, { stateDir });
  await network.delete();
} else {
  throw new TypeError(`Unknown operation "${op}"`);
}
process.stdout.write("done\n");
process.exit(0);
