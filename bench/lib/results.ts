/**
 * The benchmarks' result files: every figure in the README is rendered (by `bench/render.ts`)
 * from a JSON file that a bench wrote here, never pasted by hand. A file records where, when and
 * on what it was measured (date, kernel, CPU model, core count, runtime and tool versions, git
 * commit, load average at start and end), the options, and the raw samples (per peer and
 * repetition, per timed pass), beside the bench's own summary.
 *
 * Shared by every suite (`main`, `codec`, and the newer ones): call {@link startResult} before the
 * first timed work, {@link finishResult} at the end. Files land in `bench/results/` (override:
 * `NSLBENCH_RESULTS_DIR`; `NSLBENCH_NO_RESULTS=1` writes none) as
 * `<suite>-<runtime>-<YYYYMMDDTHHMMZ>.json`. `NSLBENCH_LABEL` (or the `label` argument) says what
 * the run was for ("plumbing check, loaded machine"); `quiet` is false when the 1-minute load
 * average was above 1.0 at the start or the end.
 *
 * Runs under Deno and Bun (node: modules only).
 *
 * @example
 * ```ts
 * import { finishResult, startResult } from "./results.ts";
 * const run = startResult("codec", { encode: 100_000, passes: 10 });
 * const samples = { encodeMs: [41.2, 40.8] };
 * const path = finishResult(run, { samples, summary: { encodeMedianMs: 41 } });
 * console.error(`wrote ${path}`);
 * ```
 *
 * @module
 */
import process from "node:process";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";

/** The format's name and version, in every file's `schema`. */
export const RESULT_SCHEMA = "nslink-bench-result/1";

/** Load above which a run is not "quiet" (1-minute load average, the machine's). */
export const QUIET_LOAD = 1.0;

/** The repository root (bench/lib/../..). */
export const REPO_ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** Where result files go unless `NSLBENCH_RESULTS_DIR` says otherwise. */
export const RESULTS_DIR = `${REPO_ROOT}/bench/results`;

/** The machine a run was measured on. */
export interface MachineInfo {
  /** `uname -r`. */
  kernel: string;
  /** `model name` of the first CPU in /proc/cpuinfo. */
  cpuModel: string;
  /** Logical CPUs. */
  cores: number;
  /** 1, 5 and 15-minute load averages when the run started. */
  loadavgStart: number[];
  /** The same when it ended. */
  loadavgEnd: number[];
  /** False when the 1-minute load average exceeded {@link QUIET_LOAD} at start or end. */
  quiet: boolean;
}

/** One result file, as written. `samples` and `summary` are the suite's own. */
export interface ResultFile {
  schema: typeof RESULT_SCHEMA;
  /** Suite name: `main`, `codec`, `dns`, … */
  suite: string;
  /** The runtime that ran the measured code (`deno`, `bun`), or `all` for a multi-peer run. */
  runtime: string;
  /** What the run was for, e.g. "plumbing check, loaded machine"; empty when not given. */
  label: string;
  /** ISO time the run started and ended. */
  date: string;
  finished: string;
  machine: MachineInfo;
  /** deno, bun, go (when present), ip, plus whatever the suite adds. */
  versions: Record<string, string>;
  git: { commit: string; dirty: boolean };
  /** The options the suite ran with (N, reps, passes, peers, …). */
  options: Record<string, unknown>;
  /** Raw samples: per peer and repetition, per pass, in the suite's units (say which). */
  samples: unknown;
  /** The suite's own derived figures (medians, ratios); render.ts recomputes from samples. */
  summary?: unknown;
}

/** A run in progress: what {@link startResult} captured. */
export interface StartedResult {
  suite: string;
  runtime: string;
  options: Record<string, unknown>;
  label: string;
  date: string;
  loadavgStart: number[];
}

/** The runtime executing this code. */
export function currentRuntime(): "deno" | "bun" {
  return "Bun" in globalThis ? "bun" : "deno";
}

/**
 * Notes the start of a run: time, load average, options.
 *
 * @example
 * ```ts
 * import { startResult } from "./results.ts";
 * const run = startResult("main", { n: 50, reps: 3 }, { runtime: "all" });
 * ```
 */
export function startResult(
  suite: string,
  options: Record<string, unknown>,
  opts: { runtime?: string; label?: string } = {},
): StartedResult {
  return {
    suite,
    runtime: opts.runtime ?? currentRuntime(),
    options,
    label: opts.label ?? process.env.NSLBENCH_LABEL ?? "",
    date: new Date().toISOString(),
    loadavgStart: loadavg().map(round2),
  };
}

/**
 * Writes the result file of a run and returns its path (or `undefined` with
 * `NSLBENCH_NO_RESULTS=1`). `versions` adds to (or overrides) the collected ones.
 *
 * @example
 * ```ts
 * import { finishResult, startResult } from "./results.ts";
 * const run = startResult("state", { n: 1000 });
 * finishResult(run, { samples: { linkUs: [12.1, 11.9] }, versions: { note: "no kernel" } });
 * ```
 */
export function finishResult(
  run: StartedResult,
  data: { samples: unknown; summary?: unknown; versions?: Record<string, string> },
): string | undefined {
  const file = buildResult(run, data);
  if (process.env.NSLBENCH_NO_RESULTS === "1") return undefined;
  const dir = process.env.NSLBENCH_RESULTS_DIR || RESULTS_DIR;
  mkdirSync(dir, { recursive: true });
  const path = `${dir}/${resultFileName(file)}`;
  writeFileSync(path, JSON.stringify(file, null, 2) + "\n");
  return path;
}

/**
 * The complete record of a run (without writing it): machine, versions, git, end load.
 *
 * @example
 * ```ts
 * import { buildResult, startResult } from "./results.ts";
 * const r = buildResult(startResult("codec", {}), { samples: [] });
 * console.log(r.machine.quiet);
 * ```
 */
export function buildResult(
  run: StartedResult,
  data: { samples: unknown; summary?: unknown; versions?: Record<string, string> },
): ResultFile {
  const loadavgEnd = loadavg().map(round2);
  return {
    schema: RESULT_SCHEMA,
    suite: run.suite,
    runtime: run.runtime,
    label: run.label,
    date: run.date,
    finished: new Date().toISOString(),
    machine: {
      kernel: release(),
      cpuModel: cpuModel(),
      cores: cpus().length,
      loadavgStart: run.loadavgStart,
      loadavgEnd,
      quiet: Math.max(run.loadavgStart[0], loadavgEnd[0]) <= QUIET_LOAD,
    },
    versions: { ...toolVersions(), ...data.versions },
    git: gitState(),
    options: run.options,
    samples: data.samples,
    ...(data.summary === undefined ? {} : { summary: data.summary }),
  };
}

/**
 * `<suite>-<runtime>-<YYYYMMDDTHHMMSSZ>.json` for a result.
 *
 * @example
 * ```ts
 * import { resultFileName } from "./results.ts";
 * resultFileName({ suite: "codec", runtime: "bun", date: "2026-12-07T17:50:03.120Z" });
 * // "codec-bun-20261207T175003Z.json"
 * ```
 */
export function resultFileName(r: Pick<ResultFile, "suite" | "runtime" | "date">): string {
  const stamp = r.date.replace(/\.\d+Z$/, "Z").replace(/[-:]/g, "");
  return `${r.suite}-${r.runtime}-${stamp}.json`;
}

/**
 * Reads and checks a result file.
 *
 * @example
 * ```ts ignore
 * import { readResult } from "./results.ts";
 * const r = readResult("bench/results/codec-deno-20261207T175003Z.json");
 * ```
 */
export function readResult(path: string): ResultFile {
  const r = JSON.parse(readFileSync(path, "utf8")) as ResultFile;
  if (r.schema !== RESULT_SCHEMA) {
    throw new Error(`read result ${path}: schema ${String(r.schema)}, expected ${RESULT_SCHEMA}`);
  }
  return r;
}

/**
 * Median and 90th percentile (nearest rank) of samples.
 *
 * @example
 * ```ts
 * import { quantiles } from "./results.ts";
 * quantiles([3, 1, 2]); // { median: 2, p90: 3, min: 1, max: 3, n: 3 }
 * ```
 */
export function quantiles(xs: number[]): {
  median: number;
  p90: number;
  min: number;
  max: number;
  n: number;
} {
  if (!xs.length) throw new Error("quantiles: no samples");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return {
    median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2,
    p90: s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)],
    min: s[0],
    max: s[s.length - 1],
    n: s.length,
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

function cpuModel(): string {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) =>
      l.startsWith("model name")
    );
    if (line) return line.split(":")[1].trim();
  } catch { /* not Linux: fall through */ }
  return cpus()[0]?.model ?? "unknown";
}

/** The first line of a command's output, or undefined when it cannot run. */
function firstLine(cmd: string, args: string[]): string | undefined {
  try {
    const r = spawnSync(cmd, args, { encoding: "utf8", cwd: REPO_ROOT, timeout: 10_000 });
    if (r.status !== 0) return undefined;
    return (r.stdout + r.stderr).trim().split("\n")[0] || undefined;
  } catch {
    return undefined;
  }
}

/** deno, bun, go (when installed), ip: all offline look-ups. */
function toolVersions(): Record<string, string> {
  const v: Record<string, string> = {};
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  const denoBin = `${REPO_ROOT}/node_modules/.bin/deno`;
  const bunBin = `${REPO_ROOT}/node_modules/.bin/bun`;
  const deno = g.Deno?.version.deno ??
    firstLine(existsSync(denoBin) ? denoBin : "deno", ["--version"])?.replace(/^deno /, "")
      .replace(/ .*/, "");
  if (deno) v.deno = deno;
  const bun = g.Bun?.version ?? firstLine(existsSync(bunBin) ? bunBin : "bun", ["--version"]);
  if (bun) v.bun = bun;
  const go = firstLine("go", ["version"]);
  if (go) v.go = go.replace(/^go version /, "");
  const ip = firstLine("ip", ["-V"]);
  if (ip) v.ip = ip;
  return v;
}

function gitState(): { commit: string; dirty: boolean } {
  const commit = firstLine("git", ["rev-parse", "HEAD"]) ?? "unknown";
  let dirty = false;
  try {
    // Result files themselves do not make the tree dirty.
    const r = spawnSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      encoding: "utf8",
      cwd: REPO_ROOT,
    });
    dirty = r.status === 0 && r.stdout.split("\n").some((l) => l.trim() !== "");
  } catch { /* no git: not dirty as far as we know */ }
  return { commit, dirty };
}
