/**
 * The benchmarks beside the per-container table: the codec micro-benchmark and nslink's peak
 * memory at N=50 and N=500, each on Deno and on Bun. Prints two tables and writes
 * bench/out/extras.json. Run by bench/run.sh inside the throw-away namespace.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = `${ROOT}/node_modules/.bin/deno`;
const BUN = `${ROOT}/node_modules/.bin/bun`;

function run(runtime: "deno" | "bun", script: string, args: string[]): Record<string, unknown> {
  const cmd = runtime === "deno"
    ? [DENO, "run", "-A", "--v8-flags=--expose-gc", script, ...args]
    : [BUN, script, ...args];
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

const codec = (["deno", "bun"] as const).map((rt) => run(rt, "bench/codec.ts", []));
const memory = (["deno", "bun"] as const).flatMap((rt) =>
  [false, true].flatMap((gc) =>
    [50, 500].map((n) => run(rt, "bench/memory.ts", ["--n", String(n), ...(gc ? ["--gc"] : [])]))
  )
);

console.log(
  "\ncodec: encode 100,000 veth requests; decode a 10,000-link dump (kernel's own messages)",
);
console.log("runtime  encode msg/s  decode msg/s");
for (const c of codec) {
  console.log(
    `${String(c.runtime).padEnd(7)}  ${String(c.encodePerSecond).padStart(12)}  ${
      String(c.decodePerSecond).padStart(12)
    }`,
  );
}
console.log(
  "\nnslink peak RSS (VmHWM), fast path, containers set up and torn down in rounds of 50",
);
console.log("runtime  collection              N=50 KiB  N=500 KiB  ratio");
for (const rt of ["deno", "bun"]) {
  for (const gc of [false, true]) {
    const at = (n: number) =>
      memory.find((m) => m.runtime === rt && m.n === n && m.gc === gc)!.peakRssKb as number;
    const [a, b] = [at(50), at(500)];
    const how = gc ? "full GC after each round" : "runtime's own";
    console.log(
      `${rt.padEnd(7)}  ${how.padEnd(22)}  ${String(a).padStart(8)}  ${String(b).padStart(9)}  ${
        (b / a).toFixed(2)
      }x`,
    );
  }
}
mkdirSync(`${ROOT}/bench/out`, { recursive: true });
writeFileSync(`${ROOT}/bench/out/extras.json`, JSON.stringify({ codec, memory }, null, 2) + "\n");
