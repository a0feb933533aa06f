/**
 * Compares nslink's etcd client (the v3 JSON gateway over `fetch`, no dependency) with the npm
 * `etcd3` package (gRPC through `@grpc/grpc-js`) on the runtime it runs on: whether it works,
 * import time, and latency of put, range, compare-and-swap txn and watch delivery, sequential
 * and 50 concurrent. Import time is measured alike for both: `await import()` of the client's
 * module, cold, in a fresh process of the same runtime (`import_cost.ts`), median of
 * `--import-reps` (5) processes. Needs an etcd at `--endpoint` (bench/overlay/run.sh starts one).
 * `etcd3` is not a dependency of nslink: it is loaded from `--etcd3 DIR/node_modules/etcd3`
 * when given (bench/overlay/run.sh installs it into a temporary directory), else skipped.
 *
 *   deno run -A bench/overlay/etcd_clients.ts --endpoint 127.0.0.1:2379 [--etcd3 PATH] [--n 300]
 *   bun bench/overlay/etcd_clients.ts …
 */
import process from "node:process";
import { spawnSync } from "node:child_process";
import { EtcdClient } from "../../store/etcd.ts";
import { finishResult, startResult } from "../lib/results.ts";

function arg(name: string, dflt?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const endpoint = arg("endpoint", "127.0.0.1:2379")!;
const N = Number(arg("n", "300"));
const runtime = "Bun" in globalThis ? "bun" : "deno";
const IMPORT_REPS = Number(arg("import-reps", "5"));
const started = startResult("etcd-clients", { n: N, importReps: IMPORT_REPS, endpoint });
/** Raw samples per client, ms: every call, every cold import, the concurrent batch's total. */
const samples: Record<string, Record<string, number[]>> = {};
const r3 = (x: number) => Math.round(x * 1000) / 1000;

let importSamples: number[] = [];

/** Median over fresh processes of a cold `await import(specifier)`, ms. */
function coldImportMs(specifier: string): number {
  const script = new URL("./import_cost.ts", import.meta.url).pathname;
  const cmd = runtime === "deno"
    ? [process.execPath, "run", "-A", script, specifier]
    : [process.execPath, script, specifier];
  const xs: number[] = [];
  importSamples = xs;
  for (let k = 0; k < IMPORT_REPS; k++) {
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`cold import of ${specifier} failed: ${r.stderr}`);
    xs.push(JSON.parse(r.stdout.trim().split("\n").at(-1)!).importMs);
  }
  return median(xs);
}

interface Ops {
  put(k: string, v: string): Promise<unknown>;
  get(k: string): Promise<unknown>;
  cas(k: string, v: string): Promise<unknown>;
  watch(prefix: string, onEvent: () => void): Promise<() => Promise<void>>;
  close(): void;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measure(name: string, importMs: number, ops: Ops): Promise<Record<string, string>> {
  const tag = `/bench/${name}/${runtime}/${Date.now()}/`;
  const raw: Record<string, number[]> = { importMs: importSamples.map(r3) };
  samples[name] = raw;
  for (let i = 0; i < 20; i++) await ops.put(`${tag}warm${i}`, "x"); // warm-up
  const lat = async (key: string, f: (i: number) => Promise<unknown>) => {
    const xs: number[] = [];
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      await f(i);
      xs.push(performance.now() - t);
    }
    raw[key] = xs.map(r3);
    return median(xs);
  };
  const put = await lat("putMs", (i) => ops.put(`${tag}k${i}`, "v"));
  const get = await lat("rangeMs", (i) => ops.get(`${tag}k${i}`));
  const cas = await lat("txnMs", (i) => ops.cas(`${tag}c${i}`, "v"));
  const t0 = performance.now();
  await Promise.all(Array.from({ length: N }, (_, i) => ops.put(`${tag}p${i}`, "v")));
  const conc = (performance.now() - t0) / N;
  raw.concurrentTotalMs = [r3(performance.now() - t0)];
  // watch: time from a put to its event
  let resolveEv: () => void = () => {};
  const stop = await ops.watch(`${tag}w/`, () => resolveEv());
  const wl: number[] = [];
  for (let i = 0; i < 50; i++) {
    const got = new Promise<void>((r) => (resolveEv = r));
    const t = performance.now();
    await ops.put(`${tag}w/${i}`, "v");
    await got;
    wl.push(performance.now() - t);
  }
  await stop();
  ops.close();
  raw.watchMs = wl.map(r3);
  return {
    client: name,
    runtime,
    "import ms": importMs.toFixed(0),
    "put ms": put.toFixed(3),
    "range ms": get.toFixed(3),
    "txn CAS ms": cas.toFixed(3),
    [`${N} concurrent puts, ms/op`]: conc.toFixed(3),
    "put->watch event ms": median(wl).toFixed(3),
  };
}

const rows: Record<string, string>[] = [];

{
  const importMs = coldImportMs(new URL("../../store/etcd.ts", import.meta.url).href);
  const c = new EtcdClient(`etcd://${endpoint}`);
  rows.push(
    await measure("nslink-gateway", importMs, {
      put: (k, v) => c.put(k, v),
      get: (k) => c.get(k),
      cas: (k, v) =>
        c.txn({
          compare: [{ key: k, target: "create", createRevision: 0 }],
          success: [{ put: { key: k, value: v } }],
        }),
      watch: (prefix, on) => {
        const w = c.watch(prefix, 1, {
          events: (evs) => evs.forEach(() => on()),
          compacted: () => {},
        });
        return new Promise((r) => setTimeout(() => r(() => w.cancel()), 200));
      },
      close: () => {},
    }),
  );
}

const etcd3Path = arg("etcd3");
if (etcd3Path) {
  try {
    const importMs = coldImportMs(etcd3Path);
    // deno-lint-ignore no-explicit-any
    const mod: any = await import(etcd3Path);
    const client = new mod.Etcd3({ hosts: `http://${endpoint}` });
    rows.push(
      await measure("npm-etcd3-grpc", importMs, {
        put: (k, v) => client.put(k).value(v),
        get: (k) => client.get(k).string(),
        cas: (k, v) => client.if(k, "Create", "==", 0).then(client.put(k).value(v)).commit(),
        watch: async (prefix, on) => {
          const w = await client.watch().prefix(prefix).create();
          w.on("put", () => on());
          await new Promise((r) => setTimeout(r, 200));
          return () => w.cancel();
        },
        close: () => client.close(),
      }),
    );
  } catch (e) {
    rows.push({ client: "npm-etcd3-grpc", runtime, error: String((e as Error)?.message ?? e) });
  }
}

console.log(JSON.stringify(rows));
const path = finishResult(started, {
  samples: { unit: "ms", clients: samples },
  summary: rows,
});
if (path) console.error(`wrote ${path}`);
