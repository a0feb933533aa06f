/**
 * The child of `netns-spare.test.ts`: starts the spare-namespace worker, waits for its spares,
 * makes one namespace from a spare, and then either ends normally (`exit`: its script simply
 * finishes, with the worker still running) or says so and waits to be killed (`hold`).
 *
 * Usage: deno run -A _spare_child.ts exit|hold PATH   (bun _spare_child.ts …)
 */
import process from "node:process";
import { newNetworkNamespace } from "../../mod.ts";
import { spareNetnsState, startSpareNetns } from "../../netns/spare.ts";

const [mode, path] = process.argv.slice(2);
if (!(await startSpareNetns({ spares: 2 }))) throw new Error("the spare worker did not start");
const until = Date.now() + 15_000;
while (spareNetnsState().ready < 2) {
  if (Date.now() > until) throw new Error(`no spares: ${JSON.stringify(spareNetnsState())}`);
  await new Promise((ok) => setTimeout(ok, 5));
}
const ns = await newNetworkNamespace(path);
// The worker makes another spare for the one taken.
while (spareNetnsState().ready < 2) await new Promise((ok) => setTimeout(ok, 5));
if (mode === "exit") {
  await ns.delete();
  console.log(JSON.stringify({ done: true }));
} else {
  console.log(JSON.stringify({ holding: spareNetnsState().ready }));
  setInterval(() => {}, 1000); // until killed
}
