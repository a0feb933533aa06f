/**
 * The benchmarks beside the per-container table: the codec micro-benchmark and nslink's peak
 * memory at N=50 and N=500, each on Deno and on Bun. Prints two tables and writes
 * bench/out/extras.json; the codec writes its own result files, and the memory runs are recorded
 * in one result file per runtime (`memory-RUNTIME-…json`, bench/lib/results.ts), each sample one
 * fresh process. Run by bench/run.sh inside the throw-away namespace.
 *
 * Usage: deno run -A bench/extras.ts [--memory-n 50,500] [--codec-warmup 3] [--codec-passes 10]
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import process from "node:process";
import { finishResult, startResult } from "./lib/results.ts";

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

const argv = process.argv.slice(2);
const opt = (k: string, d: string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 ? argv[i + 1] : d;
};
const MEMORY_N = opt("memory-n", "50,500").split(",").map(Number);
if (MEMORY_N.length !== 2 || MEMORY_N.some((n) => !(n >= 1))) {
  throw new Error("extras: --memory-n takes two container counts, e.g. 50,500");
}
const [N_LOW, N_HIGH] = MEMORY_N;

const codec = (["deno", "bun"] as const).map((rt) =>
  run(rt, "bench/codec.ts", [
    "--warmup",
    opt("codec-warmup", "3"),
    "--passes",
    opt("codec-passes", "10"),
  ])
);
const memory = (["deno", "bun"] as const).flatMap((rt) => {
  const started = startResult("memory", { n: MEMORY_N, gc: [false, true], round: 50 }, {
    runtime: rt,
  });
  const samples = [false, true].flatMap((gc) =>
    MEMORY_N.map((n) => run(rt, "bench/memory.ts", ["--n", String(n), ...(gc ? ["--gc"] : [])]))
  );
  const path = finishResult(started, {
    samples: { unit: "KiB, peak RSS (VmHWM) of one fresh process per sample", runs: samples },
  });
  if (path) console.error(`wrote ${path}`);
  return samples;
});

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
console.log(
  `runtime  collection              ${`N=${N_LOW} KiB`.padStart(8)}  ${
    `N=${N_HIGH} KiB`.padStart(9)
  }  ratio`,
);
for (const rt of ["deno", "bun"]) {
  for (const gc of [false, true]) {
    const at = (n: number) =>
      memory.find((m) => m.runtime === rt && m.n === n && m.gc === gc)!.peakRssKb as number;
    const [a, b] = [at(N_LOW), at(N_HIGH)];
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
