/**
 * Helper process for namespace-delete-burst.test.ts (not a test itself). Usage:
 *   _burst_worker.ts NS_PREFIX N
 * Makes N namespaces at /run/netns/NS_PREFIX{i} (each with its netlink handle open), deletes
 * them in one burst without the event loop turning, and prints one JSON line: how many of them
 * still have an fd open right after the burst (`waiting`) and after the next turn of the event
 * loop (`after`). Run under `prlimit --nofile=…` to see the bound follow the process's limit.
 * Any error exits with code 1 and the message on stderr.
 */
import process from "node:process";
import { statSync } from "node:fs";
import { openNamespaceInodes } from "./_ns_fds.ts";
import { type Namespace, newNetworkNamespace } from "../../mod.ts";

const [prefix, nText] = process.argv.slice(2);
const n = Number(nText);

try {
  const nss: Namespace[] = [];
  const inodes: number[] = [];
  for (let i = 0; i < n; i++) {
    const ns = await newNetworkNamespace(`/run/netns/${prefix}${i}`);
    nss.push(ns);
    ns.rtnl();
    inodes.push(statSync(ns.path).ino);
  }
  for (const ns of nss) await ns.delete();
  const open = openNamespaceInodes();
  const waiting = inodes.filter((ino) => open.has(ino)).length;
  await new Promise((ok) => setTimeout(ok, 0));
  const later = openNamespaceInodes();
  const after = inodes.filter((ino) => later.has(ino)).length;
  console.log(JSON.stringify({ waiting, after }));
} catch (e) {
  console.error(e instanceof Error ? e.stack : String(e));
  process.exit(1);
}
