/**
 * bench/render.ts, the fast paths at N=200 beside N=50 in the README's `how-fast` table, the
 * brief provenance of the README's blocks (`brief=1`), and `--latest` keeping each `main` file of
 * a `how-fast` marker at its own container count. Sample result files are built here.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  BLOCK_END,
  BLOCK_START,
  briefProvenance,
  pointAtLatest,
  renderBlock,
  sweepSvg,
} from "../../bench/render.ts";
import type { ResultFile } from "../../bench/lib/results.ts";
import { row, sampleResult } from "./_bench_sample.ts";

function result(over: Partial<ResultFile>): ResultFile {
  return sampleResult({
    versions: { deno: "2.9.6", bun: "1.4.5", go: "go1.19.8 linux/amd64" },
    ...over,
  });
}

/** A peer whose reps took `setup` and `calls` ms per container (totals = x n). */
const peer = (name: string, n: number, setup: number[], calls: number[], status = "ok") => ({
  peer: name,
  variant: "fast",
  status,
  runs: status === "ok"
    ? setup.map((s, k) => ({
      rep: k + 1,
      setupMs: s * n,
      teardownMs: 10 * n,
      teardownCallsMs: calls[k] * n,
    }))
    : [],
});

function fastRun(n: number, bunStatus = "ok", opts: Record<string, unknown> = {}): ResultFile {
  return result({
    options: { n, reps: 3, ...opts },
    samples: {
      sections: [{
        n,
        peers: [
          peer("go-netlink-fast", n, [1, 1, 2], [0.1, 0.1, 0.1]),
          peer("nslink-fast-deno", n, [2, 2, 3], [0.2, 0.3, 0.3]),
          peer("nslink-fast-bun", n, [3, 3, 3], [0.4, 0.4, 0.4], bunStatus),
          peer("nslink-floor-deno", n, [1.5, 1.5, 1.5], [0.1, 0.1, 0.1]),
        ],
      }],
    },
  });
}

describe("bench/render.ts how-fast: the fast path at N=50 and N=200", () => {
  it("renders setup and teardown calls per container on Deno, Bun and Go, at each N, x Go", () => {
    const text = renderBlock("how-fast", {}, [
      { path: "bench/results/main-all-2.json", result: fastRun(200) },
      { path: "bench/results/main-all-1.json", result: fastRun(50) },
    ]);
    // columns ordered by N, whatever the marker's order
    assert.match(text, /Deno N=50 +Bun N=50 +Go N=50 +Deno N=200 +Bun N=200 +Go N=200/);
    // medians over reps: Go 1.000 setup, 0.100 calls; Deno 2.000 (2.00x), Bun 3.000 (3.00x)
    assert.deepEqual(row(text, "fast path setup").slice(1, 4), [
      "2.000 (2.00x)",
      "3.000 (3.00x)",
      "1.000",
    ]);
    assert.deepEqual(row(text, "teardown calls").slice(4), [
      "0.300 (3.00x)",
      "0.400 (4.00x)",
      "0.100",
    ]);
    assert.match(text, /medians of 3 reps at N=50, 3 reps at N=200/);
    // no CNI or podman file: no CNI rows and no hand-off note
    assert.doesNotMatch(text, /CNI ADD|no hand-off/);
  });

  it("shows a failed peer as FAILED, and refuses a sweep", () => {
    const text = renderBlock("how-fast", {}, [
      { path: "bench/results/main-all-2.json", result: fastRun(200, "failed") },
    ]);
    assert.deepEqual(row(text, "fast path setup"), [
      "fast path setup",
      "2.000 (2.00x)",
      "FAILED",
      "1.000",
    ]);
    const sweep = fastRun(10);
    (sweep.samples as { sections: unknown[] }).sections.push(
      ...(fastRun(30).samples as { sections: unknown[] }).sections,
    );
    assert.throws(
      () => renderBlock("how-fast", {}, [{ path: "bench/results/s.json", result: sweep }]),
      /render how-fast: bench\/results\/s\.json is a sweep \(2 sections\)/,
    );
  });
});

describe("bench/render.ts brief provenance (brief=1)", () => {
  const a = { path: "bench/results/main-all-1.json", result: fastRun(50) };
  const b = {
    path: "bench/results/cni-all-1.json",
    result: result({
      suite: "cni",
      versions: { deno: "2.9.6", bun: "1.4.5", go: "go version go1.19.8 linux/amd64" },
      machine: { ...fastRun(50).machine, loadavgEnd: [1.5, 1, 1], quiet: false },
    }),
  };

  it("one line per file, then the machine and label once when every file shares them", () => {
    const lines = briefProvenance([a, b]);
    assert.deepEqual(lines, [
      "from bench/results/main-all-1.json: 2026-12-08 01:31 UTC, commit 0123456789, " +
      "load 0.31 -> 0.42 (quiet)",
      "from bench/results/cni-all-1.json: 2026-12-08 01:31 UTC, commit 0123456789, " +
      "load 0.31 -> 1.50 (NOT quiet: load above 1.0)",
      // "go version go1.19.8" (as main.ts records it) and "go1.19.8" are the same machine
      "  kernel 6.18.0, Test CPU x 2; deno 2.9.6, bun 1.4.5, go go1.19.8 linux/amd64; " +
      "label: unit test sample",
    ]);
    const text = renderBlock("how-fast", { brief: "1" }, [a]);
    assert.ok(text.startsWith(`\n\n\`\`\`text\n${briefProvenance([a]).join("\n")}\n\n`), text);
  });

  it("puts each file's label on its line when labels differ; three lines each on other machines", () => {
    const c = { ...b, result: { ...b.result, label: "another run" } };
    const lines = briefProvenance([a, c]);
    assert.equal(lines.length, 3);
    assert.match(lines[0], /\(quiet\); label: unit test sample$/);
    assert.match(lines[1], /; label: another run$/);
    assert.doesNotMatch(lines[2], /label/);
    const d = { ...b, result: { ...b.result, machine: { ...b.result.machine, kernel: "6.1" } } };
    assert.equal(briefProvenance([a, d]).length, 6);
  });
});

describe("bench/render.ts --latest: how-fast's main files", () => {
  it("moves each main file of a how-fast marker to the newest run at its own N", () => {
    const pool: Record<string, ResultFile> = {
      "bench/results/main-all-20261208T001233Z.json": fastRun(50),
      "bench/results/main-all-20261208T021322Z.json": fastRun(200),
      // newer, but not for either: a --steps run at 50, a run at 10, a sweep
      "bench/results/main-all-20261208T030000Z.json": fastRun(50, "ok", { steps: true }),
      "bench/results/main-all-20261208T030100Z.json": fastRun(10),
      "bench/results/main-all-20261208T030300Z.json": result({
        samples: {
          sections: [
            ...(fastRun(10).samples as { sections: unknown[] }).sections,
            ...(fastRun(200).samples as { sections: unknown[] }).sections,
          ],
        },
      }),
    };
    const page = `${BLOCK_START}how-fast brief=1 bench/results/main-all-20261208T001233Z.json ` +
      `bench/results/main-all-20261208T021322Z.json -->\n${BLOCK_END}\n`;
    assert.deepEqual(pointAtLatest(page, Object.keys(pool), (p) => pool[p]).changes, []);
    // a newer plain run at each N is taken, each for its own file
    pool["bench/results/main-all-20261208T031000Z.json"] = fastRun(200);
    pool["bench/results/main-all-20261208T031500Z.json"] = fastRun(50);
    const { text, changes } = pointAtLatest(page, Object.keys(pool), (p) => pool[p]);
    assert.equal(changes.length, 2);
    assert.ok(
      text.includes(
        `${BLOCK_START}how-fast brief=1 bench/results/main-all-20261208T031500Z.json ` +
          `bench/results/main-all-20261208T031000Z.json -->`,
      ),
      text,
    );
  });
});

/** A sweep (`bench/main.ts --sweep`): one section per container count, the fast peers. */
function sweepRun(ns: number[], failAt?: number): ResultFile {
  return result({
    options: { n: 50, reps: 3, sweep: ns, ipv6Only: true },
    samples: {
      sections: ns.map((n) => ({
        n,
        peers: [
          peer("go-netlink-fast", n, [1, 1, 1], [0.1, 0.1, 0.1]),
          peer("nslink-fast-deno", n, [2, 2, 2], [0.2, 0.2, 0.2]),
          {
            ...peer(
              "nslink-fast-bun",
              n,
              [3, 3, 3],
              [0.3, 0.3, 0.3],
              n === failAt ? "failed" : "ok",
            ),
            ...(n === failAt ? { reason: "ping lost" } : {}),
          },
        ].map((p) => ({
          ...p,
          verification: [{
            setupBacklogDrops: n === 300 ? 5 : 0,
            backlogDrops: 0,
            pingTransmits: [1, 1],
            pingMs: [3, 4],
          }],
        })),
      })),
    },
  });
}

describe("bench/render.ts sweep: the table and bench/scaling.svg from one result file", () => {
  it("renders a row per container count, each nslink figure x Go, failed points and drops", () => {
    const text = renderBlock("sweep", {}, [
      { path: "bench/results/main-all-3.json", result: sweepRun([10, 100, 300], 100) },
    ]);
    assert.match(text, /containers per process: 10, 100, 300 \(IPv6-only workload\); 3 reps/);
    assert.match(text, /containers +setup Go +setup Deno +setup Bun +calls Go +calls Deno/);
    assert.deepEqual(row(text, "10").slice(1, 4), ["1.000", "2.000 (2.00x)", "3.000 (3.00x)"]);
    assert.deepEqual(row(text, "100").slice(1, 4), ["1.000", "2.000 (2.00x)", "FAILED"]);
    assert.match(text, /nslink-fast-bun at 100: FAILED: ping lost/);
    assert.match(text, /300 containers: the kernel dropped 5 to 5 packets per run/);
  });

  it("draws the plot from the file, naming it; refuses a file that is not a sweep", () => {
    const svg = sweepSvg({ path: "bench/results/main-all-3.json", result: sweepRun([10, 30]) });
    assert.match(svg, /^<svg/);
    assert.match(svg, /From bench\/results\/main-all-3\.json \(bench\/render\.ts\)/);
    assert.throws(
      () => sweepSvg({ path: "bench/results/m.json", result: fastRun(50) }),
      /bench\/results\/m\.json is not a sweep/,
    );
    assert.throws(
      () => renderBlock("sweep", {}, [{ path: "bench/results/m.json", result: fastRun(50) }]),
      /is not a sweep/,
    );
  });

  it("--latest moves a sweep block to the newest sweep only, and a main block never to a sweep", () => {
    const pool: Record<string, ResultFile> = {
      "bench/results/main-all-20261208T021419Z.json": sweepRun([10, 30]),
      "bench/results/main-all-20261208T030000Z.json": fastRun(10),
      "bench/results/main-all-20261208T031000Z.json": sweepRun([10, 30, 100, 300]),
    };
    const page = `${BLOCK_START}sweep bench/results/main-all-20261208T021419Z.json -->\n` +
      `${BLOCK_END}\n${BLOCK_START}main bench/results/main-all-20261208T030000Z.json -->\n` +
      `${BLOCK_END}\n`;
    const { text, changes } = pointAtLatest(page, Object.keys(pool), (p) => pool[p]);
    assert.equal(changes.length, 1);
    assert.ok(text.includes(`${BLOCK_START}sweep bench/results/main-all-20261208T031000Z.json`));
    assert.ok(text.includes(`${BLOCK_START}main bench/results/main-all-20261208T030000Z.json`));
  });
});

describe("bench/render.ts --latest: pinned=1", () => {
  it("leaves a pinned marker as written, and moves the same marker without it", () => {
    const pool: Record<string, ResultFile> = {
      "bench/results/main-all-20261207T200404Z.json": fastRun(50),
      "bench/results/main-all-20261208T031500Z.json": fastRun(50),
    };
    const block = (params: string) =>
      `${BLOCK_START}main ${params}bench/results/main-all-20261207T200404Z.json -->\n${BLOCK_END}\n`;
    const pinned = pointAtLatest(block("pinned=1 "), Object.keys(pool), (p) => pool[p]);
    assert.deepEqual(pinned.changes, []);
    assert.equal(pinned.text, block("pinned=1 "));
    assert.equal(pointAtLatest(block(""), Object.keys(pool), (p) => pool[p]).changes.length, 1);
  });
});
