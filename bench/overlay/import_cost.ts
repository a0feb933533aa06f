/**
 * Prints how long `await import(SPECIFIER)` takes in this process, in ms, as one JSON line. Run in
 * a fresh process per measurement by `etcd_clients.ts`, so that both etcd clients are measured
 * the same way: a cold import of the module (and all it loads), runtime start not included.
 *
 *   deno run -A bench/overlay/import_cost.ts SPECIFIER | bun bench/overlay/import_cost.ts SPECIFIER
 *
 * @module
 */
import process from "node:process";

const specifier = process.argv[2];
if (!specifier) throw new Error("import_cost: a module specifier is needed");
const t = performance.now();
await import(specifier);
console.log(JSON.stringify({ importMs: performance.now() - t }));
