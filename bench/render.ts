/**
 * Renders the benchmark tables of docs/benchmarks.md from committed result files (bench/results/*.json,
 * written by the benches through bench/lib/results.ts), so that every figure can be traced to
 * the run that measured it. Nothing between a block's markers is written by hand:
 *
 * ```text
 * <!-- BENCH:TABLE codec bench/results/codec-deno-20261207T175003Z.json bench/results/codec-bun-….json -->
 * (generated)
 * <!-- BENCH:TABLE END -->
 * ```
 *
 * The start marker names the kind of table (`main`, `codec`, `memory`,
 * `etcd-clients`, `cni`, `ports`, `overlay`, `monitor`,
 * `veth`, `dns`, `dns-agent`, `podman`, `state-disk`, `teardown`, `setup`, `how-fast`: the README's
 * fast path at N=50 and N=200, CNI and podman rows, and `sweep`: the scaling sweep, whose file
 * also draws bench/scaling.svg), optional `key=value` parameters
 * (`main`: `n=50` picks a section of a sweep, `steps=1` adds the per-step medians; any kind:
 * `brief=1` writes the provenance in fewer lines, for the README; `pinned=1` keeps `--latest`
 * off the marker, for a run the text quotes on purpose) and the result
 * files, paths from the repository root. A block shows where and when each file was measured (date,
 * commit, kernel, CPU, cores, versions, load, label), then the table, computed from the raw
 * samples (medians over repetitions or passes), not from the bench's own summary.
 *
 * Usage: `deno task bench:render` (rewrites docs/benchmarks.md, and bench/scaling.svg for its
 * `sweep` block) or `deno run -A bench/render.ts --check` (exits 1 and names the block when the
 * page, or the plot, differs from what the committed files render: a hand edit; run by
 * scripts/test-all.sh).
 * `--readme PATH` renders another file (README.md held the tables before docs/ existed).
 * `--latest` first points every marker at the newest result file of each suite and runtime it
 * names ({@linkcode pointAtLatest}; bench/all.sh runs it after the suites), then renders.
 * Runs under Deno and Bun.
 *
 * @module
 */
import process from "node:process";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { quantiles, readResult, REPO_ROOT, type ResultFile } from "./lib/results.ts";
import {
  backlogNote,
  type OmittedPoint,
  scalingPlot,
  type SweepPoint,
  type SweepVerification,
} from "./lib/plot.ts";

/** Start of a block: kind, parameters and files follow. */
export const BLOCK_START = "<!-- BENCH:TABLE ";
/** End of a block. */
export const BLOCK_END = "<!-- BENCH:TABLE END -->";

/** A result file with the path it was read from (as written in the marker). */
export interface LoadedResult {
  path: string;
  result: ResultFile;
}

/** Reads a result file named in a marker (relative to the repository root). */
export type ResultLoader = (path: string) => ResultFile;

/** One block of the page: its marker's contents and where its generated text lies. */
interface Block {
  kind: string;
  params: Record<string, string>;
  files: string[];
  /** Offsets of the generated text (between the start marker's line and the end marker). */
  from: number;
  to: number;
  marker: string;
}

function parseBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  let at = 0;
  for (;;) {
    const s = text.indexOf(BLOCK_START, at);
    if (s < 0) break;
    const close = text.indexOf("-->", s);
    if (close < 0) throw new Error(`render: unterminated marker at offset ${s}`);
    const marker = text.slice(s, close + 3);
    if (marker === BLOCK_END) throw new Error(`render: ${BLOCK_END} without a start at ${s}`);
    const words = text.slice(s + BLOCK_START.length, close).trim().split(/\s+/);
    const [kind, ...rest] = words;
    const params: Record<string, string> = {};
    const files: string[] = [];
    for (const w of rest) {
      const eq = w.indexOf("=");
      if (eq > 0 && !w.includes("/")) params[w.slice(0, eq)] = w.slice(eq + 1);
      else files.push(w);
    }
    if (!files.length) throw new Error(`render: ${marker} names no result file`);
    const from = close + 3;
    const end = text.indexOf(BLOCK_END, from);
    const nextStart = text.indexOf(BLOCK_START, from);
    // (BLOCK_END begins with BLOCK_START: a start found before the end is another block's.)
    if (end < 0 || (nextStart >= 0 && nextStart < end)) {
      throw new Error(`render: ${marker} has no ${BLOCK_END}`);
    }
    blocks.push({ kind, params, files, from, to: end, marker });
    at = end + BLOCK_END.length;
  }
  return blocks;
}

const fmt3 = (x?: number) => (x === undefined ? "-" : x.toFixed(3));
const fmtX = (x?: number) => (x === undefined ? "-" : `${x.toFixed(2)}x`);
const grouped = (x: number) => Math.round(x).toLocaleString("en");

/** Fixed-width text table: first column left-aligned, the others right-aligned. */
function textTable(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : (cell ?? "").padStart(widths[c])))
      .join("  ").trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

/**
 * Where and when a result file was measured: three lines (file, date and commit; machine and
 * versions; load and label), for the top of a block's code block (which `deno fmt` leaves alone).
 *
 * @example
 * ```ts ignore
 * provenance({ path: "bench/results/codec-deno-20261207T175003Z.json", result });
 * ```
 */
export function provenance({ path, result: r }: LoadedResult): string[] {
  const m = r.machine;
  const versions = Object.entries(r.versions)
    .filter(([k]) => ["deno", "bun", "go", "ip"].includes(k))
    .map(([k, v]) => `${k} ${k === "ip" ? v.replace(/^ip utility, /, "").replace(/,.*/, "") : v}`)
    .join(", ");
  return [
    `from ${path}: ${r.date.replace("T", " ").replace(/:\d\d\.\d+Z$/, " UTC")}, ` +
    `commit ${r.git.commit.slice(0, 10)}${r.git.dirty ? " (uncommitted changes)" : ""}`,
    `  kernel ${m.kernel}, ${m.cpuModel} x ${m.cores}; ${versions}`,
    `  load ${m.loadavgStart[0].toFixed(2)} -> ${m.loadavgEnd[0].toFixed(2)}` +
    (m.quiet ? " (quiet)" : " (NOT quiet: load above 1.0)") +
    (r.label ? `; label: ${r.label}` : ""),
  ];
}

/** The machine line of {@linkcode provenance}, with the Go version written one way only. */
function machineLine(r: ResultFile): string {
  return provenance({ path: "", result: r })[1].replace(/\bgo go version go/, "go go");
}

/**
 * Where and when a block's files were measured, in fewer lines (`brief=1` in a marker, for the
 * README, whose length is capped): one line per file (date, commit, load, and its label unless
 * every file has the same), then the machine (and the shared label) once, when every file was
 * measured on the same machine; otherwise each file's three lines ({@linkcode provenance}).
 *
 * @example
 * ```ts ignore
 * briefProvenance([{ path: "bench/results/cni-all-20261208T001736Z.json", result }]);
 * ```
 */
export function briefProvenance(files: LoadedResult[]): string[] {
  const machines = new Set(files.map((f) => machineLine(f.result)));
  if (machines.size !== 1) return files.flatMap(provenance);
  const label = (r: ResultFile) => (r.label ? `; label: ${r.label}` : "");
  const oneLabel = new Set(files.map((f) => f.result.label)).size === 1;
  const lines = files.map((f) => {
    const [from, , load] = provenance(f);
    return `${from}, ${load.trim().replace(/; label: .*$/, "")}` +
      (oneLabel ? "" : label(f.result));
  });
  return [...lines, `${[...machines][0]}${oneLabel ? label(files[0].result) : ""}`];
}

interface MainRun {
  rep: number;
  setupMs: number;
  teardownMs: number;
  teardownCallsMs?: number;
  /** CPU time of the peer process during the setup phase (total for n containers). */
  setupCpuMs?: number;
  stepsMs?: Record<string, number>;
  /** `nslink-spare-*`: ms until the spare worker's first namespace (before the timer). */
  spareStartMs?: number;
  /** `nslink-spare-*`: containers for which no spare namespace was ready. */
  spareMisses?: number;
}
interface MainPeer {
  peer: string;
  variant: string;
  status: string;
  reason?: string;
  runs: MainRun[];
  warnings?: string[];
}
interface MainSamples {
  sections: { n: number; peers: MainPeer[] }[];
}

/** The per-container table of a `main` result (medians over reps of the raw phase totals). */
function renderMain(files: LoadedResult[], params: Record<string, string>): string[] {
  if (files.length !== 1) throw new Error("render main: exactly one result file");
  const r = files[0].result;
  const samples = r.samples as MainSamples;
  const n = params.n ? Number(params.n) : samples.sections[0].n;
  const section = samples.sections.find((s) => s.n === n);
  if (!section) throw new Error(`render main: ${files[0].path} has no section n=${n}`);
  const med = (p: MainPeer, f: (x: MainRun) => number) =>
    p.runs.length ? quantiles(p.runs.map((x) => f(x) / n)).median : undefined;
  const cpuOf = (runs: MainRun[]) => {
    const xs = runs.flatMap((x) => (x.setupCpuMs === undefined ? [] : [x.setupCpuMs / n]));
    return xs.length ? quantiles(xs).median : undefined;
  };
  const stats = section.peers.map((p) => ({
    p,
    ok: p.status === "ok" && p.runs.length > 0,
    setup: med(p, (x) => x.setupMs),
    calls: med(p, (x) => x.teardownCallsMs ?? x.teardownMs),
    done: med(p, (x) => x.teardownMs),
    cpu: cpuOf(p.runs),
  }));
  // The CPU columns only for a run whose peers report their setup's CPU time (older files do not).
  const withCpu = stats.some((s) => s.cpu !== undefined);
  const find = (name: string) => stats.find((s) => s.p.peer === name && s.ok);
  const ratio = (a?: number, b?: number) => (a !== undefined && b ? a / b : undefined);
  const ipb = find("ip-batch");
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const s of stats) {
    if (!s.ok) {
      rows.push([s.p.peer, s.p.status.toUpperCase()]);
      notes.push(`${s.p.peer}: ${s.p.status.toUpperCase()}: ${s.p.reason ?? ""}`);
      continue;
    }
    const go = find(`go-netlink-${s.p.variant}`);
    rows.push([
      s.p.peer,
      String(s.p.runs.length),
      fmt3(s.setup),
      fmt3(s.calls),
      fmt3(s.done),
      fmtX(ratio(s.setup, ipb?.setup)),
      fmtX(ratio(s.done, ipb?.done)),
      fmtX(ratio(s.setup, go?.setup)),
      fmtX(ratio(s.calls, go?.calls)),
      fmtX(ratio(s.done, go?.done)),
      ...(withCpu ? [fmt3(s.cpu), fmtX(ratio(s.cpu, go?.cpu))] : []),
      s.p.variant,
    ]);
    for (const w of s.p.warnings ?? []) notes.push(`${s.p.peer}: note: ${w}`);
    const spare = s.p.runs.filter((x) => x.spareStartMs !== undefined);
    if (spare.length) {
      const m = (f: (x: MainRun) => number) => quantiles(spare.map(f)).median;
      notes.push(
        `${s.p.peer}: spare namespaces: worker started before the timer, ` +
          `${m((x) => x.spareStartMs!).toFixed(1)} ms until its first spare (not in setup); ` +
          `no spare ready for ${m((x) => x.spareMisses ?? 0)} of ${n} containers (medians)`,
      );
    }
  }
  const out = [
    `N=${n} containers per run, ${r.options.reps} reps interleaved; medians over reps, ms per container`,
    "teardown: 'calls' = until the last delete returned; 'kernel-done' = until no host veth is left",
    ...textTable([
      "peer",
      "reps",
      "setup ms/ctr",
      "teardown calls ms/ctr",
      "teardown kernel-done ms/ctr",
      "setup vs ip-batch",
      "teardown vs ip-batch",
      "setup vs go",
      "calls vs go",
      "kernel-done vs go",
      ...(withCpu ? ["setup cpu ms/ctr", "cpu vs go"] : []),
      "go ref",
    ], rows),
  ];
  if (withCpu) {
    out.splice(
      2,
      0,
      "setup cpu: user + system time of the peer's process during setup (getrusage), " +
        "ms per container; '-' where the peer does not report it",
    );
  }
  if (params.steps === "1") {
    const steps = stats.filter((s) => s.ok && s.p.runs.some((x) => x.stepsMs)).map((s) => {
      const names = [...new Set(s.p.runs.flatMap((x) => Object.keys(x.stepsMs ?? {})))];
      return `${s.p.peer}: ` +
        names.map((k) =>
          `${k} ${fmt3(quantiles(s.p.runs.map((x) => (x.stepsMs?.[k] ?? 0) / n)).median)}`
        ).join(", ");
    });
    if (steps.length) out.push("", "per-step medians, ms per container:", ...steps);
  }
  if (notes.length) out.push("", ...notes);
  return out;
}

interface CodecSamples {
  encodeMs: number[];
  decodeMs: number[];
}

/** The codec table: one row per runtime (file), median and p90 rates over the timed passes. */
function renderCodec(files: LoadedResult[]): string[] {
  const rows = files.map(({ path, result: r }) => {
    if (r.suite !== "codec") throw new Error(`render codec: ${path} is a ${r.suite} result`);
    const s = r.samples as CodecSamples;
    const o = r.options as { encode: number; decode: number; warmup: number; passes: number };
    const enc = quantiles(s.encodeMs);
    const dec = quantiles(s.decodeMs);
    return {
      o,
      row: [
        r.runtime,
        `${s.encodeMs.length} (${o.warmup})`,
        grouped(o.encode / (enc.median / 1000)),
        grouped(o.encode / (enc.p90 / 1000)),
        grouped(o.decode / (dec.median / 1000)),
        grouped(o.decode / (dec.p90 / 1000)),
      ],
    };
  });
  const o = rows[0].o;
  return [
    `codec: encode ${grouped(o.encode)} veth requests; decode a ${
      grouped(o.decode)
    }-link dump (kernel's own messages)`,
    "rates in messages/s per timed pass, after untimed warm-up passes; p90 = the slowest 10 %",
    ...textTable([
      "runtime",
      "passes (warm-up)",
      "encode median",
      "encode p90",
      "decode median",
      "decode p90",
    ], rows.map((x) => x.row)),
  ];
}

interface MemorySamples {
  runs: { n: number; gc: boolean; peakRssKb: number }[];
}

/** Peak RSS per runtime (one file each), the runtime's own collection and a full GC per round. */
function renderMemory(files: LoadedResult[]): string[] {
  const ns = (files[0].result.options as { n: number[] }).n;
  const rows: string[][] = [];
  for (const { path, result: r } of files) {
    if (r.suite !== "memory") throw new Error(`render memory: ${path} is a ${r.suite} result`);
    const runs = (r.samples as MemorySamples).runs;
    for (const gc of [false, true]) {
      const at = (n: number) => {
        const x = runs.find((m) => m.n === n && m.gc === gc);
        if (!x) throw new Error(`render memory: ${path} has no sample n=${n} gc=${gc}`);
        return x.peakRssKb;
      };
      const [a, b] = [at(ns[0]), at(ns[1])];
      rows.push([
        r.runtime,
        gc ? "full GC after each round" : "runtime's own",
        String(a),
        String(b),
        `${(b / a).toFixed(2)}x`,
      ]);
    }
  }
  return [
    "nslink peak RSS (VmHWM), fast path, containers set up and torn down in rounds of 50",
    ...textTable(["runtime", "collection", `N=${ns[0]} KiB`, `N=${ns[1]} KiB`, "ratio"], rows),
  ];
}

interface EtcdSamples {
  clients: Record<string, Record<string, number[]>>;
}

/** The two etcd clients per runtime (one file each): cold import and per-call medians. */
function renderEtcdClients(files: LoadedResult[]): string[] {
  const rows: string[][] = [];
  let n = 0;
  for (const { path, result: r } of files) {
    if (r.suite !== "etcd-clients") {
      throw new Error(`render etcd-clients: ${path} is a ${r.suite} result`);
    }
    n = (r.options as { n: number }).n;
    for (const [client, raw] of Object.entries((r.samples as EtcdSamples).clients)) {
      const med = (k: string) => (raw[k]?.length ? fmt3(quantiles(raw[k]).median) : "-");
      rows.push([
        `${client}, ${r.runtime}`,
        raw.importMs?.length ? quantiles(raw.importMs).median.toFixed(1) : "-",
        med("putMs"),
        med("rangeMs"),
        med("txnMs"),
        raw.concurrentTotalMs?.length ? fmt3(raw.concurrentTotalMs[0] / n) : "-",
        med("watchMs"),
      ]);
    }
  }
  return [
    `medians, ms; import: cold \`await import()\` of the client's module in a fresh process`,
    ...textTable([
      "client, runtime",
      "import",
      "put",
      "range",
      "txn (CAS)",
      `${n} concurrent puts, per op`,
      "put → watch event",
    ], rows),
  ];
}

interface CniSamples {
  peers: { peer: string; reps: { rep: number; addMs: number[]; delMs: number[] }[] }[];
  startup: { runtime: string; command: string; ms: number[] }[];
}

/** CNI ADD/DEL exec'd per container, and the command's start-up, from one `cni` result. */
function renderCni(files: LoadedResult[]): string[] {
  if (files.length !== 1) throw new Error("render cni: exactly one result file");
  const r = files[0].result;
  const s = r.samples as CniSamples;
  const o = r.options as { n: number; reps: number };
  const med = (xs: number[]) => quantiles(xs).median;
  const peers = s.peers.map((p) => ({
    peer: p.peer,
    add: med(p.reps.flatMap((x) => x.addMs)),
    del: med(p.reps.flatMap((x) => x.delMs)),
  }));
  const base = peers.find((p) => p.peer === "nslink-compiled") ??
    peers.find((p) => p.peer === "nslink-bun");
  if (!base) throw new Error(`render cni: ${files[0].path} has no nslink-compiled or nslink-bun`);
  const runtimes = [...new Set(s.startup.map((x) => x.runtime))];
  const start = (rt: string, cmd: string) => {
    const x = s.startup.find((y) => y.runtime === rt && y.command.startsWith(cmd));
    return x ? med(x.ms).toFixed(1) : "-";
  };
  // Like with like: each nslink case against the reference plugins' same case.
  const refOf = (peer: string) =>
    peer.includes("+port")
      ? "cni-bridge+portmap"
      : /\bfresh\b/.test(peer)
      ? "cni-bridge fresh"
      : "cni-bridge";
  const handoff = peers.some((p) => p.peer.endsWith("no hand-off"));
  const withRef = peers.some((p) => p.peer.startsWith("cni-bridge"));
  const refCols = (p: { peer: string; add: number; del: number }) => {
    if (!withRef) return [];
    const ref = p.peer.startsWith("nslink")
      ? peers.find((x) => x.peer === refOf(p.peer))
      : undefined;
    return ref ? [fmtX(p.add / ref.add), fmtX(p.del / ref.del), ref.peer] : ["-", "-", ""];
  };
  return [
    `CNI: one container's ADD and DEL, each an exec of the plugin (process start included); ` +
    `medians of ${o.n} containers x ${o.reps} interleaved rounds; ratios against ${base.peer}`,
    ...(withRef
      ? ["'vs ref': each nslink case against the reference plugins' same case (ref)"]
      : []),
    ...(handoff
      ? [
        "'no hand-off': the same exec with NSLINK_AGENT=off (the exec does all the work); " +
        "without it, the running host agent does it",
      ]
      : []),
    ...textTable(
      [
        "peer",
        "ADD ms",
        "DEL ms",
        "ADD vs nslink",
        "DEL vs nslink",
        ...(withRef ? ["ADD vs ref", "DEL vs ref", "ref"] : []),
      ],
      peers.map((p) => [
        p.peer,
        p.add.toFixed(2),
        p.del.toFixed(2),
        fmtX(p.add / base.add),
        fmtX(p.del / base.del),
        ...refCols(p),
      ]),
    ),
    "",
    "nslink command start time (medians): `version` (no FFI), `network ls` (libc, state)",
    ...textTable(
      ["runtime", "version ms", "network ls ms"],
      runtimes.map((rt) => [rt, start(rt, "version"), start(rt, "network ls")]),
    ),
  ];
}

interface PortsSamples {
  runs: Record<string, number[]>;
  connect: Record<string, { meanMs: number; medianMs: number }>;
}

/** Port publishing (bench/ports.ts) from one `ports` result: medians and p90 of every run. */
function renderPorts(files: LoadedResult[]): string[] {
  if (files.length !== 1) throw new Error("render ports: exactly one result file");
  const r = files[0].result;
  const s = r.samples as PortsSamples;
  const summary = (r.summary ?? {}) as Record<string, number | string>;
  const runs = { ...s.runs };
  const without = runs.setupNetavarkWithoutPortMs;
  const withPort = runs.setupNetavarkMs;
  if (without?.length && withPort?.length) {
    runs.publishNetavarkMs = withPort.map((w, i) => w - without[i]);
  }
  const q = (k: string) => (runs[k]?.length ? quantiles(runs[k]) : undefined);
  const notes: string[] = [];
  const rows = (items: [string, string][], baseKey: string) => {
    const base = q(baseKey)?.median;
    return items.map(([label, key]) => {
      const x = q(key);
      if (!x) {
        if (typeof summary[key] === "string") notes.push(`${label}: ${summary[key]}`);
        return [label, "-", "-", "-"];
      }
      return [label, fmt3(x.median), fmt3(x.p90), base ? fmtX(x.median / base) : "-"];
    });
  };
  const flat = [1, 100, 1000].map((n) => {
    const x = q(`publishAt${n}Ms`);
    const c = s.connect[`connectAt${n}`];
    return [
      grouped(n),
      x ? fmt3(x.median) : "-",
      x ? fmt3(x.p90) : "-",
      c ? fmt3(c.medianMs) : "-",
    ];
  });
  return [
    `port publishing: medians and p90 of ${r.options.reps} runs, ms`,
    ...textTable(
      ["publish one port", "median", "p90", "vs nslink"],
      rows([
        ["nslink publish()", "publishNslinkMs"],
        ["nft add element (1 process)", "publishNftProcessMs"],
        ["CNI portmap ADD", "publishCniPortmapMs"],
        ["netavark (+1 port: with - without)", "publishNetavarkMs"],
      ], "publishNslinkMs"),
    ),
    "",
    ...textTable(
      ["setup with one port", "median", "p90", "vs nslink"],
      rows([
        ["nslink fast path", "setupNslinkMs"],
        ["CNI bridge + portmap", "setupCniMs"],
        ["netavark setup", "setupNetavarkMs"],
      ], "setupNslinkMs"),
    ),
    "",
    `ports already published (another container); TCP connect: median of ${r.options.connections}`,
    ...textTable(["published", "publish() median", "p90", "new TCP connection"], flat),
    ...(notes.length ? ["", ...notes] : []),
  ];
}

interface OverlaySamples {
  convergenceMs: number[];
  linkAndAddInterfaceMs: number[];
  pingProcessMs: number[];
  linkOverlayEtcdMs: number[];
  linkBridgeFileMs: number[];
  watcher: {
    remoteEndpoints: number;
    fdbEntriesInstalled: number;
    /** Neighbour entries in the kernel after the snapshot (result files from 2026-12-07 20:00 on). */
    neighEntriesInstalled?: number;
    snapshotMs: number;
    cpuMsBefore: number;
    cpuMsAfterSnapshot: number;
    cpuMsAfterChurn: number;
    rssIdleBytes: number;
    rssAfterSnapshotBytes: number;
    rssAfterChurnBytes: number;
    churnMs: number;
  };
}

/** Nearest-rank 99th percentile. */
function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
}

/** The overlay bench, one file per runtime: convergence, link() per store, the watcher. */
function renderOverlay(files: LoadedResult[]): string[] {
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  const f1 = (x: number) => x.toFixed(1);
  let remote = 0;
  let n = 0;
  const rows = files.map(({ path, result: r }) => {
    if (r.suite !== "overlay") throw new Error(`render overlay: ${path} is a ${r.suite} result`);
    const s = r.samples as OverlaySamples;
    const w = s.watcher;
    remote = w.remoteEndpoints;
    n = s.convergenceMs.length;
    const med = (xs: number[]) => quantiles(xs).median;
    return [
      r.runtime,
      `${f1(med(s.convergenceMs))} (${f1(p99(s.convergenceMs))})`,
      `${f1(med(s.linkOverlayEtcdMs))} (${f1(p99(s.linkOverlayEtcdMs))})`,
      `${f1(med(s.linkBridgeFileMs))} (${f1(p99(s.linkBridgeFileMs))})`,
      fmtX(med(s.linkOverlayEtcdMs) / med(s.linkBridgeFileMs)),
      `${Math.round(w.snapshotMs)} (${Math.round(w.cpuMsAfterSnapshot - w.cpuMsBefore)} CPU), ` +
      `${mib(w.rssIdleBytes)} -> ${mib(w.rssAfterSnapshotBytes)}`,
      `${Math.round(w.churnMs)} (${Math.round(w.cpuMsAfterChurn - w.cpuMsAfterSnapshot)} CPU), ` +
      mib(w.rssAfterChurnBytes),
      `${w.fdbEntriesInstalled} / ${w.neighEntriesInstalled ?? "-"}`,
    ];
  });
  return [
    `${n} endpoints; ms, median (p99); watcher: ${grouped(remote)} remote endpoints, one run`,
    ...textTable([
      "runtime",
      "convergence",
      "link() overlay/etcd",
      "link() bridge/file",
      "ratio",
      "watcher snapshot (CPU), RSS",
      `${grouped(remote)} changes followed (CPU), RSS`,
      "FDB / neigh entries",
    ], rows),
  ];
}

/** Event monitor wake-up latency (bench/monitor.ts), one file per runtime. */
function renderMonitor(files: LoadedResult[]): string[] {
  const rows = files.map(({ path, result: r }) => {
    if (r.suite !== "monitor") throw new Error(`render monitor: ${path} is a ${r.suite} result`);
    const x = quantiles((r.samples as { latencyMs: number[] }).latencyMs);
    return [r.runtime, String(x.n), fmt3(x.median), fmt3(x.p90), fmt3(x.max)];
  });
  return [
    "event monitor: from a link change to the idle consumer's event, ms",
    ...textTable(["runtime", "samples", "median", "p90", "max"], rows),
  ];
}

/** One veth created and deleted (bench/veth.ts), nslink against `ip`, one file per runtime. */
function renderVeth(files: LoadedResult[]): string[] {
  const rows = files.map(({ path, result: r }) => {
    if (r.suite !== "veth") throw new Error(`render veth: ${path} is a ${r.suite} result`);
    const s = r.samples as Record<string, number[]>;
    const m = (k: string) => fmt3(quantiles(s[k]).median);
    return [
      r.runtime,
      String(s.nslinkAdd.length),
      m("nslinkAdd"),
      m("ipAdd"),
      m("nslinkDel"),
      m("ipDel"),
    ];
  });
  return [
    "one veth pair created and deleted: medians, ms (ip: one process per command)",
    ...textTable(["runtime", "n", "nslink add", "ip link add", "nslink del", "ip link del"], rows),
  ];
}

interface DnsPerf {
  qps: number;
  lost: number;
  avgMs: number;
}
interface DnsPeer {
  peer: string;
  status: string;
  reason?: string;
  names?: DnsPerf;
  latency?: { rate: number; lost: number; us: number[] };
  latencyRealtime?: { rate: number; lost: number; us: number[] };
  forward?: DnsPerf;
}

/** Nearest-rank percentile (µs samples in, ms out). */
function pctMs(us: number[], p: number): number {
  const s = [...us].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * p) - 1))] / 1000;
}

/** DNS servers side by side (bench/dns.ts): one `dns` file, every peer in the same run. */
function renderDns(files: LoadedResult[]): string[] {
  if (files.length !== 1) throw new Error("render dns: exactly one result file");
  const { path, result: r } = files[0];
  if (r.suite !== "dns") throw new Error(`render dns: ${path} is a ${r.suite} result`);
  const peers = (r.samples as { peers: DnsPeer[] }).peers;
  const ref = peers.find((p) => p.peer === "dnsmasq" && p.status === "ok");
  const ratio = (x?: number, y?: number) => (x && y ? fmtX(x / y) : "-");
  const rows = peers.map((p) => {
    if (p.status !== "ok") return [p.peer, `${p.status}: ${p.reason ?? "?"}`];
    const lat = p.latency!;
    return [
      p.peer,
      grouped(p.names!.qps),
      ratio(p.names!.qps, ref?.names?.qps),
      fmt3(pctMs(lat.us, 0.5)),
      fmt3(pctMs(lat.us, 0.99)),
      fmt3(pctMs(lat.us, 1)),
      String(lat.lost),
      p.latencyRealtime ? fmt3(pctMs(p.latencyRealtime.us, 0.99)) : "-",
      p.forward ? grouped(p.forward.qps) : "-",
      ratio(p.forward?.qps, ref?.forward?.qps),
    ];
  });
  return [
    `dnsperf from a container namespace to the gateway, ${r.options.names} names, ` +
    `${r.options.seconds} s at full speed; latency at ${
      grouped(Number(r.options.latencyRate))
    } queries/s, ms; ` +
    "p99 FIFO: the same with the server and dnsperf under SCHED_FIFO (no wait for a CPU)",
    ...textTable([
      "server",
      "names q/s",
      "x dnsmasq",
      "p50",
      "p99",
      "max",
      "lost",
      "p99 FIFO",
      "forwarded q/s",
      "x dnsmasq",
    ], rows),
  ];
}

/** Names end to end through newNetwork/link and the host agent (bench/dns-agent.ts). */
function renderDnsAgent(files: LoadedResult[]): string[] {
  const rows = files.map(({ path, result: r }) => {
    if (r.suite !== "dns-agent") {
      throw new Error(`render dns-agent: ${path} is a ${r.suite} result`);
    }
    const s = r.samples as {
      names: DnsPerf;
      latency: { lost: number; us: number[] };
      latencyRealtime?: { us: number[] };
      firstQuery: { answered: number; tries: number };
      churn: { sent: number; lost: number; ms: number };
    };
    return [
      r.runtime,
      grouped(s.names.qps),
      fmt3(pctMs(s.latency.us, 0.5)),
      fmt3(pctMs(s.latency.us, 0.99)),
      s.latencyRealtime ? fmt3(pctMs(s.latencyRealtime.us, 0.99)) : "-",
      `${s.firstQuery.answered}/${s.firstQuery.tries}`,
      `${s.churn.lost} of ${grouped(s.churn.sent)}`,
    ];
  });
  return [
    "the host agent, 100 linked containers; latency at 1,000 queries/s, ms; churn: 100 link() " +
    "+ 100 unlink() under a steady 2,000 queries/s; p99 FIFO: the agent and dnsperf under SCHED_FIFO",
    ...textTable([
      "runtime",
      "names q/s",
      "p50",
      "p99",
      "p99 FIFO",
      "first query after link() answered",
      "lost during churn",
    ], rows),
  ];
}

interface PodmanSamples {
  cases: { case: string; reps: { rep: number; ms: number[] }[] }[];
}

/**
 * `podman run --rm … true` wall time (bench/podman.ts), one `podman` file: every case's median
 * and p90 over every run of every round, against the reference plugins in the same network state.
 */
function renderPodman(files: LoadedResult[]): string[] {
  if (files.length !== 1) throw new Error("render podman: exactly one result file");
  const { path, result: r } = files[0];
  if (r.suite !== "podman") throw new Error(`render podman: ${path} is a ${r.suite} result`);
  const o = r.options as { n: number; reps: number };
  const cases = (r.samples as PodmanSamples).cases.map((c) => ({
    name: c.case,
    q: quantiles(c.reps.flatMap((x) => x.ms)),
  }));
  const state = (name: string) => (name.includes(" in use") ? "in use" : "lone");
  const ref = (name: string) =>
    cases.find((c) => c.name.startsWith("bridge+") && state(c.name) === state(name));
  const f1 = (x: number) => x.toFixed(1);
  return [
    `podman run --rm --network NET IMAGE true, wall time until podman returns, ms; ` +
    `${o.n} runs x ${o.reps} interleaved rounds per case (small N: podman is slow)`,
    "lone: nothing else on the network (nslink's ADD creates it, its DEL removes it); " +
    "in use: another container keeps it (the host agent runs)",
    "nslink: the compiled plugin, its work handed to the host agent when it runs; " +
    "no hand-off: NSLINK_AGENT=off; ref: bridge + host-local + portmap",
    ...textTable(
      ["case", "runs", "median", "p90", "vs ref"],
      cases.map((c) => {
        const b = ref(c.name);
        return [
          c.name,
          String(c.q.n),
          f1(c.q.median),
          f1(c.q.p90),
          fmtX(b ? c.q.median / b.q.median : undefined),
        ];
      }),
    ),
  ];
}

type StateDiskSplit = Record<string, { us: number; calls: number }>;
interface StateDiskSamples {
  rounds: Record<"tmpfs" | "disk", { link: number[]; unlink: number[] }>;
  /** Each round's split by libc function (absent from files before 2026-12-08T03:00). */
  symbols?: Record<"tmpfs" | "disk", Record<"link" | "unlink", StateDiskSplit[]>>;
}

/**
 * The libc split of one state-disk file: per function, the medians over the rounds of µs per
 * container on tmpfs and on disk and of calls per container (on disk), for link and unlink; then
 * all libc and the rest of the wall time (medians of the rounds' means minus libc). Functions
 * sorted by what the disk adds to link + unlink.
 */
function stateDiskSplitRows(runtime: string, s: StateDiskSamples): string[][] {
  const sym = s.symbols!;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const ops = ["link", "unlink"] as const;
  const med = (xs: number[]) => quantiles(xs).median;
  const us = (w: "tmpfs" | "disk", op: "link" | "unlink", name: string) =>
    med(sym[w][op].map((r) => r[name]?.us ?? 0));
  const names = [
    ...new Set(ops.flatMap((op) => [...sym.tmpfs[op], ...sym.disk[op]].flatMap(Object.keys))),
  ];
  const added = (n: string) => sum(ops.map((op) => us("disk", op, n) - us("tmpfs", op, n)));
  names.sort((a, b) => added(b) - added(a) || a.localeCompare(b));
  const f1 = (x: number) => x.toFixed(1);
  const cells = (calls: number, tmpfs: number, disk: number) => [
    f1(calls),
    f1(tmpfs),
    f1(disk),
    f1(disk - tmpfs),
  ];
  const rows = names.map((n) => [
    `${runtime}:${n}`,
    ...ops.flatMap((op) =>
      cells(
        med(sym.disk[op].map((r) => r[n]?.calls ?? 0)),
        us("tmpfs", op, n),
        us("disk", op, n),
      )
    ),
  ]);
  const libc = (w: "tmpfs" | "disk", op: "link" | "unlink") =>
    med(sym[w][op].map((r) => sum(Object.values(r).map((v) => v.us))));
  const calls = (op: "link" | "unlink") =>
    med(sym.disk[op].map((r) => sum(Object.values(r).map((v) => v.calls))));
  const wall = (w: "tmpfs" | "disk", op: "link" | "unlink") => med(s.rounds[w][op]) * 1000;
  rows.push([
    `${runtime}:all libc`,
    ...ops.flatMap((op) => cells(calls(op), libc("tmpfs", op), libc("disk", op))),
  ]);
  rows.push([
    `${runtime}:outside libc`,
    ...ops.flatMap((op) => [
      "",
      ...cells(0, wall("tmpfs", op) - libc("tmpfs", op), wall("disk", op) - libc("disk", op))
        .slice(1),
    ]),
  ]);
  return rows;
}

/** Fast path link/unlink with the state on tmpfs and on disk (bench/state-disk.ts), one file per runtime. */
function renderStateDisk(files: LoadedResult[]): string[] {
  let o = { n: 0, rounds: 0 };
  const rows = files.map(({ path, result: r }) => {
    if (r.suite !== "state-disk") {
      throw new Error(`render state-disk: ${path} is a ${r.suite} result`);
    }
    o = r.options as { n: number; rounds: number };
    const s = (r.samples as StateDiskSamples).rounds;
    const m = (where: "tmpfs" | "disk", k: "link" | "unlink") => quantiles(s[where][k]).median;
    return [
      r.runtime,
      fmt3(m("tmpfs", "link")),
      fmt3(m("disk", "link")),
      fmtX(m("disk", "link") / m("tmpfs", "link")),
      fmt3(m("tmpfs", "unlink")),
      fmt3(m("disk", "unlink")),
      fmtX(m("disk", "unlink") / m("tmpfs", "unlink")),
    ];
  });
  const split = files.flatMap(({ result: r }) => {
    const s = r.samples as StateDiskSamples;
    return s.symbols ? stateDiskSplitRows(r.runtime, s) : [];
  });
  return [
    `fast path link(name, { namespace }) and unlink(name) per container, until the calls return, ` +
    `nslink's state on tmpfs and on the machine's disk (ext4 here), interleaved in one process;`,
    `${o.n} containers x ${o.rounds} rounds; medians of the per-round means, ms per container`,
    ...textTable([
      "runtime",
      "link tmpfs",
      "link disk",
      "disk/tmpfs",
      "unlink tmpfs",
      "unlink disk",
      "disk/tmpfs",
    ], rows),
    ...(split.length
      ? [
        "",
        `the same rounds split by libc function (each call timed around the FFI call): medians over ` +
        `the rounds of calls per container and µs per container on tmpfs, on disk, and what the ` +
        `disk adds; "outside libc" is the rest of the time until the calls return (JavaScript, ` +
        `runtime, waits); functions sorted by what the disk adds to link + unlink`,
        ...textTable([
          "runtime:function",
          "link calls",
          "link tmpfs",
          "link disk",
          "+disk",
          "unlink calls",
          "unlink tmpfs",
          "unlink disk",
          "+disk",
        ], split),
      ]
      : []),
  ];
}

interface TeardownRound {
  round: number;
  usPerCtr: number;
  cpuUsPerCtr: number;
  libcUsPerCtr: number;
  callsPerCtr: number;
  nsDelete: { libcUsPerCtr: number };
  unlink: { libcUsPerCtr: number };
  first: { nsDeleteUs: number; unlinkUs: number };
  /** The calling thread's time, the scheduler's way (absent from files before 2026-12-08T02:30). */
  thread?: { cpuUsPerCtr: number; runnableUsPerCtr: number; asleepUsPerCtr: number };
  /** CPU of the process's other threads meanwhile (the runtime's compiler and GC threads). */
  otherThreadsCpuUsPerCtr?: number;
  /** CPU of the state directory's host agent meanwhile. */
  agentCpuUsPerCtr?: number;
  symbols: Record<string, { usPerCtr: number; callsPerCtr: number }>;
  samplesMs: { nsDelete: number[]; unlink: number[] };
}

/**
 * Where the fast path's teardown time goes (bench/teardown.ts), one file per runtime: per round,
 * the time until the calls return, the part inside libc (system calls) and the rest (nslink's own
 * work), then the libc functions of the last round (the steady state).
 */
function renderTeardown(files: LoadedResult[]): string[] {
  let o = { n: 0, rounds: 0, agent: "on" };
  const rows: string[][] = [];
  const fns: string[] = [];
  const f1 = (x: number) => x.toFixed(1);
  // Files written before the scheduler's split existed render without its columns.
  let split = false;
  for (const { path, result: r } of files) {
    if (r.suite !== "teardown") throw new Error(`render teardown: ${path} is a ${r.suite} result`);
    o = r.options as typeof o;
    const rounds = r.samples as TeardownRound[];
    if (!rounds.length) throw new Error(`render teardown: ${path} has no round`);
    const perCtr = (xs: number[]) => xs.reduce((a, b) => a + b, 0) * 1000 / xs.length;
    for (const x of rounds) {
      const del = perCtr(x.samplesMs.nsDelete);
      const unl = perCtr(x.samplesMs.unlink);
      rows.push([
        r.runtime,
        String(x.round),
        f1(del + unl),
        f1(x.libcUsPerCtr),
        f1(del + unl - x.libcUsPerCtr),
        f1(x.cpuUsPerCtr),
        String(x.callsPerCtr),
        `${f1(del)} (${f1(x.nsDelete.libcUsPerCtr)})`,
        `${f1(unl)} (${f1(x.unlink.libcUsPerCtr)})`,
        `${f1(x.first.nsDeleteUs + x.first.unlinkUs)}`,
        x.thread
          ? `${f1(x.thread.cpuUsPerCtr)} / ${f1(x.thread.runnableUsPerCtr)} / ${
            f1(x.thread.asleepUsPerCtr)
          }`
          : "-",
        x.otherThreadsCpuUsPerCtr === undefined ? "-" : f1(x.otherThreadsCpuUsPerCtr),
        x.agentCpuUsPerCtr === undefined ? "-" : f1(x.agentCpuUsPerCtr),
      ]);
      split ||= x.thread !== undefined;
    }
    const last = rounds[rounds.length - 1];
    fns.push(
      `${r.runtime}, round ${last.round}: ` +
        Object.entries(last.symbols).map(([k, v]) => `${k} ${f1(v.usPerCtr)} (x${v.callsPerCtr})`)
          .join(", "),
    );
  }
  const header = [
    "runtime",
    "round",
    "total",
    "libc",
    "own",
    "cpu",
    "libc calls",
    "ns.delete (libc)",
    "unlink (libc)",
    "first container",
    "thread cpu / runnable / asleep",
    "other threads",
    "agent",
  ];
  const width = split ? header.length : header.length - 3;
  return [
    `fast path teardown per container: ns.delete() then network.unlink(name), until the calls ` +
    `return; ${o.n} containers x ${o.rounds} rounds, host agent ${o.agent}; µs per container`,
    "libc: time inside libc calls (the system calls); own: the rest (runtime and nslink); " +
    "round 1 holds the process's first teardown",
    ...(split
      ? [
        "thread: the calling thread on a CPU / runnable (waiting for one) / asleep (in a blocking " +
        "call); other threads, agent: CPU of the process's other threads and of the host agent " +
        "meanwhile",
      ]
      : []),
    ...textTable(header.slice(0, width), rows.map((row) => row.slice(0, width))),
    "",
    "libc functions, µs per container (calls per container), last round:",
    ...fns,
  ];
}

/** The plot that a page's `sweep` block draws (from the block's result file). */
export const SWEEP_SVG = "bench/scaling.svg";

/** The fast path's peers in the README's table: nslink on each runtime, and Go's. */
const HOW_FAST_PEERS = ["nslink-fast-deno", "nslink-fast-bun", "go-netlink-fast"] as const;
/**
 * The same with spare namespaces (`startSpareNetns()` before the timer), one row of its own when a
 * file has them; Go's column stays empty.
 */
const HOW_FAST_SPARE_PEERS = ["nslink-spare-deno", "nslink-spare-bun", ""] as const;

/**
 * The README's short table (`how-fast`): the library's fast path against Go's at each container
 * count (one `main` file per count: setup, and teardown until the calls return, medians over the
 * reps of ms per container), a CNI exec's ADD and DEL (one `cni` file) and a whole `podman run`
 * (one `podman` file), nslink with the hand-off, without it, and the reference plugins, medians
 * over every exec or run. Each file alone renders its own rows.
 */
function renderHowFast(files: LoadedResult[]): string[] {
  const rows: string[][] = [];
  const notes: string[] = [];
  const fast: { n: number; reps: number; peers: MainPeer[] }[] = [];
  const med = (xs: number[] | undefined) => (xs?.length ? quantiles(xs).median : undefined);
  const cell = (
    x: number | undefined,
    digits: number,
  ) => (x === undefined ? "-" : x.toFixed(digits));
  const row = (what: string, v: (number | undefined)[], digits: number) =>
    rows.push([
      what,
      ...v.map((x) => cell(x, digits)),
      fmtX(v[0] !== undefined && v[2] ? v[0] / v[2] : undefined),
    ]);
  for (const { path, result: r } of files) {
    if (r.suite === "main") {
      const sections = (r.samples as MainSamples).sections;
      if (sections.length !== 1) {
        throw new Error(`render how-fast: ${path} is a sweep (${sections.length} sections)`);
      }
      fast.push({ n: sections[0].n, reps: Number(r.options.reps), peers: sections[0].peers });
    } else if (r.suite === "cni") {
      const o = r.options as { n: number; reps: number };
      const peers = (r.samples as CniSamples).peers;
      const get = (peer: string, k: "addMs" | "delMs") =>
        med(peers.find((p) => p.peer === peer)?.reps.flatMap((x) => x[k]));
      for (const [what, k] of [["ADD", "addMs"], ["DEL", "delMs"]] as const) {
        row(`CNI ${what}`, [
          get("nslink-compiled", k),
          get("nslink-compiled no hand-off", k),
          get("cni-bridge", k),
        ], 2);
      }
      for (const [what, k] of [["ADD", "addMs"], ["DEL", "delMs"]] as const) {
        row(`CNI ${what}, one port`, [
          get("nslink-compiled+port", k),
          get("nslink-compiled+port no hand-off", k),
          get("cni-bridge+portmap", k),
        ], 2);
      }
      notes.push(
        `CNI: one exec of the plugin (process start included), ${o.n} containers x ${o.reps} rounds`,
      );
    } else if (r.suite === "podman") {
      const o = r.options as { n: number; reps: number };
      const cases = (r.samples as PodmanSamples).cases;
      const get = (name: string) =>
        med(cases.find((c) => c.case === name)?.reps.flatMap((x) => x.ms));
      for (const [what, state] of [["lone network", "lone"], ["network in use", "in use"]]) {
        row(`podman run, ${what}`, [
          get(`nslink ${state}`),
          get(`nslink ${state} no hand-off`),
          get(`bridge+host-local+portmap ${state}`),
        ], 1);
      }
      notes.push(
        `podman run --rm … true until it returns, ${o.n} runs x ${o.reps} rounds`,
      );
    } else throw new Error(`render how-fast: ${path} is a ${r.suite} result`);
  }
  const out: string[] = [];
  if (fast.length) {
    fast.sort((a, b) => a.n - b.n);
    // Medians over the reps of each phase's total / n; `FAILED` for a peer whose runs failed.
    const perCtr = (p: MainPeer | undefined, n: number, f: (x: MainRun) => number) =>
      p?.status === "ok" && p.runs.length
        ? quantiles(p.runs.map((x) => f(x) / n)).median
        : undefined;
    const cells = (
      what: (x: MainRun) => number,
      names: readonly string[] = HOW_FAST_PEERS,
    ) =>
      fast.flatMap(({ n, peers }) => {
        const at = (name: string) => peers.find((p) => p.peer === name);
        const go = perCtr(at("go-netlink-fast"), n, what);
        return names.map((name) => {
          const p = at(name);
          const x = perCtr(p, n, what);
          if (x === undefined) return p ? p.status.toUpperCase() : "-";
          return name.startsWith("go-") || go === undefined
            ? fmt3(x)
            : `${fmt3(x)} (${fmtX(x / go)})`;
        });
      });
    out.push(
      "fast path: the library, one process, N containers set up, then torn down until the delete " +
        `calls return; ms per container (x Go), medians of ${
          fast.map((x) => `${x.reps} rep${x.reps === 1 ? "" : "s"} at N=${x.n}`).join(", ")
        }; Go: vishvananda/netlink, the same kernel requests`,
      ...textTable(
        [
          "",
          ...fast.flatMap(({ n }) => [`Deno N=${n}`, `Bun N=${n}`, `Go N=${n}`]),
        ],
        [
          ["fast path setup", ...cells((x) => x.setupMs)],
          ...(fast.some(({ peers }) =>
              peers.some((p) => (HOW_FAST_SPARE_PEERS as readonly string[]).includes(p.peer))
            )
            ? [["setup, spare netns", ...cells((x) => x.setupMs, HOW_FAST_SPARE_PEERS)]]
            : []),
          ["teardown calls", ...cells((x) => x.teardownCallsMs ?? x.teardownMs)],
        ],
      ),
    );
  }
  if (rows.length) {
    if (out.length) out.push("");
    out.push(
      notes.join("; "),
      "medians, ms; nslink: the compiled plugin, its work handed to the host agent when one runs; " +
        "no hand-off: NSLINK_AGENT=off; ref: bridge + host-local (+ portmap: one port, podman run)",
      ...textTable(["", "nslink", "no hand-off", "ref", "nslink vs ref"], rows),
    );
  }
  return out;
}

/** A sweep's points: per peer, per container count, the medians over the reps (ms/ctr). */
function sweepPoints(r: ResultFile): {
  series: Map<string, SweepPoint[]>;
  omitted: OmittedPoint[];
  notes: string[];
} {
  const sections = (r.samples as MainSamples).sections;
  const series = new Map<string, SweepPoint[]>();
  const omitted: OmittedPoint[] = [];
  const notes: string[] = [];
  for (const { n, peers } of sections) {
    for (const p of peers) {
      if (p.status !== "ok" || !p.runs.length) {
        if (p.status === "failed") omitted.push({ peer: p.peer, n, reason: p.reason ?? "" });
        continue;
      }
      const m = (f: (x: MainRun) => number) => quantiles(p.runs.map((x) => f(x) / n)).median;
      const list = series.get(p.peer) ?? [];
      list.push({
        n,
        setup: m((x) => x.setupMs),
        calls: m((x) => x.teardownCallsMs ?? x.teardownMs),
        done: m((x) => x.teardownMs),
      });
      series.set(p.peer, list);
    }
    const v = peers.flatMap((p) =>
      (p as MainPeer & { verification?: SweepVerification[] }).verification ?? []
    );
    const note = backlogNote(n, v);
    if (note) notes.push(note);
  }
  return { series, omitted, notes };
}

/** Is this `main` result a sweep (`bench/main.ts --sweep`: more than one container count)? */
function isSweep(r: ResultFile): boolean {
  return r.suite === "main" && ((r.samples as Partial<MainSamples>).sections ?? []).length > 1;
}

/**
 * The scaling sweep's table (`sweep`, one `main` result of `bench/main.ts --sweep`): one row per
 * container count, setup, teardown until the calls return and until the kernel is done, per peer,
 * medians over the reps in ms per container, each nslink figure with its ratio against Go's.
 */
function renderSweep(files: LoadedResult[]): string[] {
  if (files.length !== 1) throw new Error("render sweep: exactly one result file");
  const { path, result: r } = files[0];
  if (!isSweep(r)) throw new Error(`render sweep: ${path} is not a sweep (bench/main.ts --sweep)`);
  const { series, omitted, notes } = sweepPoints(r);
  const peers = [
    ...new Set((r.samples as MainSamples).sections.flatMap((x) => x.peers.map((p) => p.peer))),
  ];
  const go = series.get("go-netlink-fast") ?? [];
  const short = (p: string) =>
    p === "go-netlink-fast"
      ? "Go"
      : p.replace(/^nslink-fast-/, "").replace(/^./, (c) => c.toUpperCase());
  const ns = (r.samples as MainSamples).sections.map((x) => x.n);
  const cells = (n: number, k: "setup" | "calls" | "done") =>
    peers.map((p) => {
      const x = series.get(p)?.find((q) => q.n === n)?.[k];
      if (x === undefined) return omitted.some((o) => o.peer === p && o.n === n) ? "FAILED" : "-";
      const g = go.find((q) => q.n === n)?.[k];
      return p === "go-netlink-fast" || !g ? fmt3(x) : `${fmt3(x)} (${fmtX(x / g)})`;
    });
  return [
    `containers per process: ${ns.join(", ")} (IPv6-only workload); ${r.options.reps} reps ` +
    "interleaved per point; medians over reps, ms per container (x Go's fast path)",
    "calls: teardown until the last delete returned; kernel-done: until no host veth is left",
    ...textTable(
      [
        "containers",
        ...peers.map((p) => `setup ${short(p)}`),
        ...peers.map((p) => `calls ${short(p)}`),
        ...peers.map((p) => `kernel-done ${short(p)}`),
      ],
      ns.map((n) => [
        grouped(n),
        ...cells(n, "setup"),
        ...cells(n, "calls"),
        ...cells(n, "done"),
      ]),
    ),
    ...omitted.map((o) => `${o.peer} at ${o.n}: FAILED: ${o.reason}`),
    ...notes,
  ];
}

/**
 * The sweep's plot (`bench/scaling.svg`), drawn from its result file by `lib/plot.ts`: the same
 * points as the `sweep` table. `render.ts` writes it for the page's `sweep` block and `--check`
 * compares it.
 *
 * @example
 * ```ts ignore
 * const svg = sweepSvg({ path: "bench/results/main-all-20261208T021419Z.json", result });
 * ```
 */
export function sweepSvg({ path, result: r }: LoadedResult): string {
  if (!isSweep(r)) throw new Error(`render sweep: ${path} is not a sweep (bench/main.ts --sweep)`);
  const { series, omitted, notes } = sweepPoints(r);
  notes.unshift(
    `From ${path} (bench/render.ts). Every drawn point passed verification (untimed, between ` +
      "setup and teardown): addresses, routes, links up and MTU of the first, middle and last " +
      "container, and a ping to the gateway from the first and the last; see bench/README.md.",
  );
  return scalingPlot(series, {
    date: r.date,
    reps: Number(r.options.reps),
    kernel: r.machine.kernel,
    cpus: r.machine.cores,
    notes,
  }, omitted);
}

/** One round of bench/setup.ts. */
interface SetupRound {
  round: number;
  usPerCtr: number;
  cpuUsPerCtr: number;
  libcUsPerCtr: number;
  callsPerCtr: number;
  firstUs: number;
  steps: Record<string, {
    usPerCtr: number;
    libcUsPerCtr: number;
    callsPerCtr: number;
    symbols: Record<string, { usPerCtr: number; callsPerCtr: number }>;
  }>;
}

/**
 * Where the fast path's setup time goes (bench/setup.ts), one file per runtime: per round, the
 * time of each step (netns, link, addInterface) with its part inside libc (system calls) and its
 * calls, the rest being the runtime's and nslink's own work; then the libc functions of each step
 * in the last round (the steady state).
 */
function renderSetup(files: LoadedResult[]): string[] {
  let o = { n: 0, rounds: 0, agent: "on" };
  const rows: string[][] = [];
  const fns: string[] = [];
  const f1 = (x: number) => x.toFixed(1);
  const steps = ["netns", "link", "addInterface"];
  for (const { path, result: r } of files) {
    if (r.suite !== "setup") throw new Error(`render setup: ${path} is a ${r.suite} result`);
    o = r.options as typeof o;
    const rounds = r.samples as SetupRound[];
    if (!rounds.length) throw new Error(`render setup: ${path} has no round`);
    for (const x of rounds) {
      rows.push([
        r.runtime,
        String(x.round),
        f1(x.usPerCtr),
        f1(x.libcUsPerCtr),
        f1(x.usPerCtr - x.libcUsPerCtr),
        f1(x.cpuUsPerCtr),
        String(x.callsPerCtr),
        ...steps.map((s) => {
          const st = x.steps[s];
          return `${f1(st.usPerCtr)} (${f1(st.libcUsPerCtr)}, ${st.callsPerCtr})`;
        }),
        f1(x.firstUs),
      ]);
    }
    const last = rounds[rounds.length - 1];
    for (const s of steps) {
      fns.push(
        `${r.runtime}, round ${last.round}, ${s}: ` +
          Object.entries(last.steps[s].symbols).map(([k, v]) =>
            `${k} ${f1(v.usPerCtr)} (x${v.callsPerCtr})`
          ).join(", "),
      );
    }
  }
  return [
    `fast path setup per container: newNetworkNamespace, network.link(name, { namespace }), ` +
    `ns.addInterface; ${o.n} containers x ${o.rounds} rounds, host agent ${o.agent}; µs per container`,
    "libc: time inside libc calls (the system calls); own: the rest (runtime and nslink); " +
    "step columns: total (libc, calls); round 1 holds the process's first container",
    ...textTable([
      "runtime",
      "round",
      "total",
      "libc",
      "own",
      "cpu",
      "libc calls",
      "netns",
      "link",
      "addInterface",
      "first container",
    ], rows),
    "",
    "libc functions per step, µs per container (calls per container), last round:",
    ...fns,
  ];
}

/**
 * The generated text of one block (between the markers, with its surrounding blank lines).
 *
 * @example
 * ```ts ignore
 * renderBlock("codec", {}, [{ path, result }]);
 * ```
 */
export function renderBlock(
  kind: string,
  params: Record<string, string>,
  files: LoadedResult[],
): string {
  let body: string[];
  if (kind === "main") body = renderMain(files, params);
  else if (kind === "codec") body = renderCodec(files);
  else if (kind === "memory") body = renderMemory(files);
  else if (kind === "etcd-clients") body = renderEtcdClients(files);
  else if (kind === "cni") body = renderCni(files);
  else if (kind === "ports") body = renderPorts(files);
  else if (kind === "overlay") body = renderOverlay(files);
  else if (kind === "monitor") body = renderMonitor(files);
  else if (kind === "veth") body = renderVeth(files);
  else if (kind === "dns") body = renderDns(files);
  else if (kind === "dns-agent") body = renderDnsAgent(files);
  else if (kind === "podman") body = renderPodman(files);
  else if (kind === "state-disk") body = renderStateDisk(files);
  else if (kind === "teardown") body = renderTeardown(files);
  else if (kind === "setup") body = renderSetup(files);
  else if (kind === "how-fast") body = renderHowFast(files);
  else if (kind === "sweep") body = renderSweep(files);
  else throw new Error(`render: unknown table kind ${kind}`);
  return [
    "",
    "",
    "```text",
    ...(params.brief === "1" ? briefProvenance(files) : files.flatMap(provenance)),
    "",
    ...body,
    "```",
    "",
    "",
  ].join("\n");
}

/**
 * The page (docs/benchmarks.md, or any Markdown text) with every block's text regenerated from the result files its marker names.
 *
 * @example
 * ```ts ignore
 * import { readResult } from "./lib/results.ts";
 * const out = renderReadme(readme, (p) => readResult(`${root}/${p}`));
 * ```
 */
export function renderReadme(text: string, load: ResultLoader): string {
  let out = "";
  let at = 0;
  for (const b of parseBlocks(text)) {
    const files = b.files.map((path) => ({ path, result: load(path) }));
    out += text.slice(at, b.from) + renderBlock(b.kind, b.params, files);
    at = b.to;
  }
  return out + text.slice(at);
}

/**
 * The blocks whose text differs from what their result files render (a hand edit, or a stale
 * render): one message per block, empty when the page is as rendered. `name` is how the messages
 * call the page (`README` unless given).
 *
 * @example
 * ```ts ignore
 * const problems = checkReadme(readme, loader);
 * if (problems.length) throw new Error(problems.join("\n"));
 * ```
 */
export function checkReadme(text: string, load: ResultLoader, name = "README"): string[] {
  const problems: string[] = [];
  for (const b of parseBlocks(text)) {
    let want: string;
    try {
      want = renderBlock(b.kind, b.params, b.files.map((path) => ({ path, result: load(path) })));
    } catch (e) {
      problems.push(`${b.marker}: ${(e as Error).message}`);
      continue;
    }
    const have = text.slice(b.from, b.to);
    if (have !== want) {
      const h = have.split("\n");
      const w = want.split("\n");
      const k = w.findIndex((line, i) => line !== h[i]);
      const line = text.slice(0, b.from).split("\n").length + k;
      problems.push(
        `${b.marker}: differs from its result files at ${name} line ${line}:\n` +
          `  ${name}: ${JSON.stringify(h[k] ?? "")}\n  rendered: ${JSON.stringify(w[k] ?? "")}`,
      );
    }
  }
  return problems;
}

/** A result file's name split into suite, runtime and stamp (`codec-deno-20261207T175003Z`). */
const RESULT_NAME = /^(?:.*\/)?([a-z0-9-]+)-([a-z0-9]+)-(\d{8}T\d{6}Z)\.json$/;

/**
 * Whether a result file fits a block beyond its suite and runtime: a `main` block with
 * `steps=1` takes only runs made with `--steps`, one without only runs made without; one with
 * `n=N` only a run with a section of N containers, one without only a single-section run (not
 * a sweep) at the container count of the file it names now, with every peer of that file (a
 * run of a subset of the peers does not replace the table of all of them). A `main` file named
 * by another kind of block (`how-fast`: one at N=50, one at N=200) is taken as by a `main`
 * block without parameters: each stays at its own container count and peers.
 */
function fits(
  kind: string,
  params: Record<string, string>,
  r: ResultFile,
  current: ResultFile | undefined,
): boolean {
  // A main file in another block (how-fast) follows a main block's rules without parameters;
  // a sweep block takes any newer sweep.
  if (r.suite !== "main") return true;
  if (kind === "sweep") return isSweep(r) && !r.options.steps;
  const own = kind === "main" ? params : {};
  if (Boolean(r.options.steps) !== (own.steps === "1")) return false;
  const sections = (r.samples as Partial<MainSamples>).sections ?? [];
  if (own.n) return sections.some((x) => x.n === Number(own.n));
  // One container count, the table's own (a run at another N is another table).
  const nowSection = (current?.samples as Partial<MainSamples> | undefined)?.sections?.[0];
  const now = nowSection?.n;
  if (sections.length !== 1 || (now !== undefined && sections[0].n !== now)) return false;
  // Every peer of the table's run (a run of a few peers, such as the fast ones, is another table).
  const have = new Set(sections[0].peers.map((p) => p.peer));
  return (nowSection?.peers ?? []).every((p) => have.has(p.peer));
}

/** What {@linkcode pointAtLatest} did: the page's new text and one line per file it replaced. */
export interface LatestResult {
  text: string;
  changes: string[];
}

/**
 * Points every block of the page at the newest result file of each suite and runtime it names
 * (`render.ts --latest`, run by bench/all.sh before rendering): in each marker, a file
 * `SUITE-RUNTIME-STAMP.json` is replaced by the one of `available` with the same suite and
 * runtime and the newest stamp, if that one fits the block (a `main` block with `steps=1` takes
 * only a `--steps` run, and the other way round) and renders; otherwise it stays. A marker with
 * `pinned=1` stays as written (a run the text quotes on purpose). Only the markers change;
 * render the page afterwards.
 *
 * @example
 * ```ts ignore
 * const { text, changes } = pointAtLatest(page, ["bench/results/codec-deno-20261208T090000Z.json"], load);
 * ```
 * @param text The page.
 * @param available Result files, as paths from the repository root (`bench/results/…json`).
 * @param load Reads a result file by that path.
 * @returns The page with its markers updated, and what changed.
 */
export function pointAtLatest(
  text: string,
  available: readonly string[],
  load: ResultLoader,
): LatestResult {
  const changes: string[] = [];
  let out = "";
  let at = 0;
  for (const b of parseBlocks(text)) {
    if (b.params.pinned === "1") continue; // an example run kept on purpose (a loaded one)
    const files = b.files.map((f) => {
      const m = RESULT_NAME.exec(f);
      if (!m) return f;
      const [, suite, runtime, stamp] = m;
      const current = () => {
        try {
          return load(f);
        } catch {
          return undefined;
        }
      };
      const newer = available
        .map((p) => ({ p, m: RESULT_NAME.exec(p) }))
        .filter(({ m: n }) => n && n[1] === suite && n[2] === runtime && n[3] > stamp)
        .sort((x, y) => (x.m![3] < y.m![3] ? 1 : -1));
      for (const { p } of newer) {
        let r: ResultFile;
        try {
          r = load(p);
          if (r.suite !== suite || !fits(b.kind, b.params, r, current())) continue;
          renderBlock(b.kind, b.params, [{ path: p, result: r }]);
        } catch {
          continue; // unreadable, or does not render: not a candidate
        }
        changes.push(`${b.kind}: ${f} -> ${p}${r.machine.quiet ? "" : " (NOT quiet)"}`);
        return p;
      }
      return f;
    });
    if (files.every((f, i) => f === b.files[i])) continue; // this marker stays as written
    const start = text.lastIndexOf(BLOCK_START, b.from);
    const params = Object.entries(b.params).map(([k, v]) => `${k}=${v}`);
    out += text.slice(at, start) +
      `${BLOCK_START}${[b.kind, ...params, ...files].join(" ")} -->`;
    at = b.from;
  }
  return { text: out + text.slice(at), changes };
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const check = argv.includes("--check");
  const i = argv.indexOf("--readme");
  const readmePath = i >= 0 ? argv[i + 1] : `${REPO_ROOT}/docs/benchmarks.md`;
  const original = readFileSync(readmePath, "utf8");
  let text = original;
  const load: ResultLoader = (p) => readResult(`${REPO_ROOT}/${p}`);
  if (check) {
    const problems = checkReadme(text, load, readmePath.replace(`${REPO_ROOT}/`, ""));
    // Committed, not only present: CI renders from a fresh clone.
    for (const b of parseBlocks(text)) {
      for (const f of b.files) {
        const r = spawnSync("git", ["ls-files", "--error-unmatch", f], { cwd: REPO_ROOT });
        if (r.status === 1) problems.push(`${b.marker}: ${f} is not committed`);
      }
    }
    for (const b of parseBlocks(text).filter((x) => x.kind === "sweep")) {
      let have = "";
      try {
        have = readFileSync(`${REPO_ROOT}/${SWEEP_SVG}`, "utf8");
      } catch { /* missing: differs */ }
      let want: string;
      try {
        want = sweepSvg({ path: b.files[0], result: load(b.files[0]) });
      } catch (e) {
        problems.push(`${b.marker}: ${SWEEP_SVG}: ${(e as Error).message}`);
        continue;
      }
      if (have !== want) problems.push(`${b.marker}: ${SWEEP_SVG} differs from what it draws`);
      const r = spawnSync("git", ["ls-files", "--error-unmatch", SWEEP_SVG], { cwd: REPO_ROOT });
      if (r.status === 1) problems.push(`${b.marker}: ${SWEEP_SVG} is not committed`);
    }
    for (const p of problems) console.error(`bench/render.ts --check: ${p}`);
    if (problems.length) {
      console.error(
        `the benchmark tables of ${readmePath} must be rendered: deno task bench:render`,
      );
      process.exit(1);
    }
    console.error(`bench/render.ts --check: ${parseBlocks(text).length} tables as rendered`);
  } else {
    if (argv.includes("--latest")) {
      const dir = `${REPO_ROOT}/bench/results`;
      const available = readdirSync(dir).filter((f) => f.endsWith(".json"))
        .map((f) => `bench/results/${f}`);
      const latest = pointAtLatest(text, available, load);
      for (const c of latest.changes) console.error(`bench/render.ts --latest: ${c}`);
      if (!latest.changes.length) console.error("bench/render.ts --latest: nothing newer");
      text = latest.text;
    }
    const out = renderReadme(text, load);
    if (out !== original) writeFileSync(readmePath, out);
    for (const b of parseBlocks(out).filter((x) => x.kind === "sweep")) {
      writeFileSync(
        `${REPO_ROOT}/${SWEEP_SVG}`,
        sweepSvg({ path: b.files[0], result: load(b.files[0]) }),
      );
      console.error(`bench/render.ts: drew ${SWEEP_SVG} from ${b.files[0]}`);
    }
    console.error(
      `bench/render.ts: ${parseBlocks(text).length} tables rendered into ${readmePath}`,
    );
  }
}
