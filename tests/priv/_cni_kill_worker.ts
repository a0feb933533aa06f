/**
 * Helper process for cni.test.ts's kill test (not a test itself). Usage, with the CNI
 * environment and the network configuration on stdin as for the plugin:
 *   _cni_kill_worker.ts POINT MARKER
 * Runs the nslink CNI plugin as cli/main.ts does for `CNI_COMMAND`, with one step patched:
 * POINT is `method:before` or `method:after` for a method of FileStore, LinkOps (`add`) or Rtnl
 * (`batch`), as in _kill_worker.ts. When the plugin first reaches it, the worker writes POINT to
 * the file MARKER and stops there (the thread blocked) until the test kills it: so the kill
 * provably lands inside the ADD, at that step. Not killed within 30 s, it exits with code 3.
 */
import process from "node:process";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { FileStore, LinkOps, Rtnl } from "../../mod.ts";
import { runCni } from "../../cni/skel.ts";
import { stdio } from "../../cli/io.ts";

const [point, marker] = process.argv.slice(2);
const [method, when] = point.split(":");
const proto =
  (method === "add"
    ? LinkOps.prototype
    : method === "batch"
    ? Rtnl.prototype
    : FileStore.prototype) as unknown as Record<string, (...args: unknown[]) => unknown>;
const original = proto[method];
if (typeof original !== "function" || (when !== "before" && when !== "after")) {
  console.error(`_cni_kill_worker: no step ${point}`);
  process.exit(2);
}
let reached = false;
function stop(): void {
  if (reached) return;
  reached = true;
  writeFileSync(`${marker}.tmp`, point);
  renameSync(`${marker}.tmp`, marker); // whole or absent: the test reads it once it exists
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
  console.error(`_cni_kill_worker: not killed within 30 s at ${point}`);
  process.exit(3);
}
proto[method] = function (this: unknown, ...args: unknown[]) {
  if (when === "before") stop();
  const result = original.apply(this, args);
  if (when === "after") stop();
  return result;
};

process.exit(await runCni({ ...process.env }, () => readFileSync(0, "utf8"), stdio));
