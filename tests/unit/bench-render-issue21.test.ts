/**
 * bench/render.ts, the tables of issue 21's suites: the main table's setup CPU columns, the CNI
 * table's columns against the reference plugins' same case (hand-off on and off), `podman`,
 * `state-disk`, `teardown` and the README's `how-fast`; and `--latest` keeping a main table off a
 * run of only some of its peers. Sample result files are built here (no bench is run).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BLOCK_END, BLOCK_START, pointAtLatest, renderBlock } from "../../bench/render.ts";
import type { ResultFile } from "../../bench/lib/results.ts";
import { row, sampleResult } from "./_bench_sample.ts";

function result(over: Partial<ResultFile>): ResultFile {
  return sampleResult({
    date: "2026-12-07T23:31:26.000Z",
    finished: "2026-12-07T23:33:00.000Z",
    ...over,
  });
}

const mainRun = (rep: number, setupMs: number, setupCpuMs?: number) => ({
  rep,
  setupMs,
  teardownMs: 100,
  teardownCallsMs: 10,
  verified: true,
  ...(setupCpuMs === undefined ? {} : { setupCpuMs }),
});
const mainPeer = (peer: string, runs: ReturnType<typeof mainRun>[]) => ({
  peer,
  variant: "fast",
  status: "ok",
  runs,
});
function mainResult(peers: ReturnType<typeof mainPeer>[]): ResultFile {
  return result({ options: { n: 10, reps: 3 }, samples: { sections: [{ n: 10, peers }] } });
}

describe("bench/render.ts main: setup CPU", () => {
  it("adds the setup's CPU per container and its ratio against Go when the run has them", () => {
    const r = mainResult([
      mainPeer("go-netlink-fast", [mainRun(1, 20, 10), mainRun(2, 20, 12), mainRun(3, 20, 8)]),
      mainPeer("nslink-fast-deno", [mainRun(1, 40, 30), mainRun(2, 40, 20), mainRun(3, 40, 25)]),
      mainPeer("ip-batch", [mainRun(1, 50), mainRun(2, 50), mainRun(3, 50)]),
    ]);
    const text = renderBlock("main", {}, [{ path: "bench/results/m.json", result: r }]);
    assert.match(text, /setup cpu ms\/ctr +cpu vs go +go ref/);
    // medians of setupCpuMs / n: Go 1.0, nslink 2.5; a peer without it shows "-"
    assert.deepEqual(row(text, "go-netlink-fast").slice(-3), ["1.000", "1.00x", "fast"]);
    assert.deepEqual(row(text, "nslink-fast-deno").slice(-3), ["2.500", "2.50x", "fast"]);
    assert.deepEqual(row(text, "ip-batch").slice(-3), ["-", "-", "fast"]);
  });

  it("renders a run without CPU times as before: no CPU columns", () => {
    const r = mainResult([
      mainPeer("go-netlink-fast", [mainRun(1, 20)]),
      mainPeer("nslink-fast-deno", [mainRun(1, 40)]),
    ]);
    const text = renderBlock("main", {}, [{ path: "bench/results/m.json", result: r }]);
    assert.doesNotMatch(text, /cpu/);
    assert.equal(row(text, "nslink-fast-deno").length, 11);
  });
});

const cniPeer = (peer: string, add: number[], del: number[]) => ({
  peer,
  reps: [{ rep: 1, addMs: add, delMs: del }],
});
const cni = result({
  options: { n: 2, reps: 1 },
  suite: "cni",
  samples: {
    unit: "ms per exec, process start included",
    peers: [
      cniPeer("nslink-compiled", [10, 12], [30, 30]),
      cniPeer("nslink-compiled no hand-off", [20, 24], [40, 40]),
      cniPeer("cni-bridge", [11, 11], [20, 20]),
      cniPeer("nslink-compiled+port", [15, 15], [40, 40]),
      cniPeer("nslink-compiled+port no hand-off", [25, 25], [50, 50]),
      cniPeer("cni-bridge+portmap", [100, 100], [200, 200]),
      cniPeer("nslink-compiled fresh", [40, 40], [90, 90]),
      cniPeer("cni-bridge fresh", [10, 10], [20, 20]),
    ],
    startup: [{ runtime: "dist/nslink (compiled)", command: "version", ms: [14] }],
  },
});
const podman = result({
  suite: "podman",
  runtime: "compiled",
  options: { n: 3, reps: 2 },
  samples: {
    unit: "ms per podman run, wall",
    cases: [
      ["nslink lone", [500, 520, 540], [510, 530, 900]],
      ["nslink lone no hand-off", [600, 600, 600], [600, 600, 600]],
      ["bridge+host-local+portmap lone", [400, 400, 400], [400, 400, 400]],
      ["nslink in use", [450, 450, 450], [450, 450, 450]],
      ["nslink in use no hand-off", [480, 480, 480], [480, 480, 480]],
      ["bridge+host-local+portmap in use", [500, 500, 500], [500, 500, 500]],
    ].map(([c, a, b]) => ({ case: c, reps: [{ rep: 1, ms: a }, { rep: 2, ms: b }] })),
  },
});

describe("bench/render.ts cni: against the reference's same case", () => {
  it("sets each nslink case against cni-bridge, bridge+portmap or the fresh bridge", () => {
    const text = renderBlock("cni", {}, [{ path: "bench/results/c.json", result: cni }]);
    // ADD 11 / 11, DEL 30 / 20
    assert.deepEqual(row(text, "nslink-compiled").slice(-3), ["1.00x", "1.50x", "cni-bridge"]);
    assert.deepEqual(row(text, "nslink-compiled no hand-off").slice(-3), [
      "2.00x",
      "2.00x",
      "cni-bridge",
    ]);
    assert.deepEqual(row(text, "nslink-compiled+port").slice(-3), [
      "0.15x",
      "0.20x",
      "cni-bridge+portmap",
    ]);
    assert.deepEqual(row(text, "nslink-compiled fresh").slice(-3), [
      "4.00x",
      "4.50x",
      "cni-bridge fresh",
    ]);
    // the reference rows have no reference of their own
    assert.deepEqual(row(text, "cni-bridge+portmap").slice(-2), ["-", "-"]);
    assert.match(text, /'no hand-off': the same exec with NSLINK_AGENT=off/);
  });
});

describe("bench/render.ts podman", () => {
  it("renders every case's median and p90 over all runs, against the reference's same state", () => {
    const text = renderBlock("podman", {}, [{ path: "bench/results/p.json", result: podman }]);
    // nslink lone: 500 510 520 530 540 900 -> median 525, p90 900; reference lone 400
    assert.deepEqual(row(text, "nslink lone"), ["nslink lone", "6", "525.0", "900.0", "1.31x"]);
    assert.deepEqual(row(text, "nslink in use"), ["nslink in use", "6", "450.0", "450.0", "0.90x"]);
    assert.deepEqual(row(text, "bridge+host-local+portmap in use").slice(-1), ["1.00x"]);
    assert.match(text, /3 runs x 2 interleaved rounds per case/);
    assert.throws(
      () => renderBlock("podman", {}, [{ path: "bench/results/c.json", result: cni }]),
      /is a cni result/,
    );
  });
});

describe("bench/render.ts state-disk", () => {
  it("renders medians of the rounds on tmpfs and on disk, and their ratio, per runtime", () => {
    const file = (runtime: string, k: number) =>
      result({
        suite: "state-disk",
        runtime,
        options: { n: 50, rounds: 3, disk: "/x/bench/.state-disk" },
        samples: {
          rounds: {
            tmpfs: { link: [1, 2, 3].map((x) => x * k), unlink: [20, 20, 21] },
            disk: { link: [3, 4, 5].map((x) => x * k), unlink: [20, 22, 30] },
          },
        },
      });
    const text = renderBlock("state-disk", {}, [
      { path: "bench/results/state-disk-deno-1.json", result: file("deno", 1) },
      { path: "bench/results/state-disk-bun-1.json", result: file("bun", 2) },
    ]);
    assert.deepEqual(row(text, "deno"), [
      "deno",
      "2.000",
      "4.000",
      "2.00x",
      "20.000",
      "22.000",
      "1.10x",
    ]);
    assert.deepEqual(row(text, "bun").slice(1, 4), ["4.000", "8.000", "2.00x"]);
    assert.match(text, /50 containers x 3 rounds/);
  });
});

describe("bench/render.ts teardown", () => {
  it("renders each round's time until the calls return, split into libc and the rest", () => {
    const round = (n: number, del: number[], unl: number[], libc: number) => ({
      round: n,
      usPerCtr: 0,
      cpuUsPerCtr: 300,
      libcUsPerCtr: libc,
      callsPerCtr: 14,
      nsDelete: { usPerCtr: 0, medianUs: 0, libcUsPerCtr: libc - 40 },
      unlink: { usPerCtr: 0, medianUs: 0, libcUsPerCtr: 40 },
      first: { nsDeleteUs: del[0] * 1000, unlinkUs: unl[0] * 1000 },
      symbols: {
        umount2: { usPerCtr: 150, callsPerCtr: 1 },
        unlink: { usPerCtr: 27, callsPerCtr: 2 },
      },
      samplesMs: { nsDelete: del, unlink: unl },
    });
    const r = result({
      suite: "teardown",
      runtime: "deno",
      options: { n: 2, rounds: 2, agent: "off" },
      samples: [round(1, [2, 0.4], [0.5, 0.1], 500), round(2, [0.4, 0.4], [0.1, 0.1], 200)],
    });
    const text = renderBlock("teardown", {}, [{ path: "bench/results/t.json", result: r }]);
    const lines = text.split("\n").filter((l) => l.startsWith("deno  "));
    // round 1: ns.delete 1200 µs, unlink 300 µs per container; libc 500; own 1000
    assert.deepEqual(lines[0].trim().split(/\s{2,}/), [
      "deno",
      "1",
      "1500.0",
      "500.0",
      "1000.0",
      "300.0",
      "14",
      "1200.0 (460.0)",
      "300.0 (40.0)",
      "2500.0",
    ]);
    assert.deepEqual(lines[1].trim().split(/\s{2,}/).slice(1, 5), ["2", "500.0", "200.0", "300.0"]);
    assert.match(text, /deno, round 2: umount2 150\.0 \(x1\), unlink 27\.0 \(x2\)/);
    assert.match(text, /2 containers x 2 rounds, host agent off/);
    assert.doesNotMatch(text, /runnable/, "files without the scheduler's split: no such columns");
  });

  it("renders the calling thread's split and the other threads' and agent's CPU when recorded", () => {
    const round = {
      round: 1,
      usPerCtr: 0,
      cpuUsPerCtr: 300,
      libcUsPerCtr: 200,
      callsPerCtr: 14,
      nsDelete: { usPerCtr: 0, medianUs: 0, libcUsPerCtr: 160 },
      unlink: { usPerCtr: 0, medianUs: 0, libcUsPerCtr: 40 },
      first: { nsDeleteUs: 400, unlinkUs: 100 },
      thread: { cpuUsPerCtr: 120, runnableUsPerCtr: 60.25, asleepUsPerCtr: 20 },
      otherThreadsCpuUsPerCtr: 75,
      agentCpuUsPerCtr: 0,
      symbols: { umount2: { usPerCtr: 150, callsPerCtr: 1 } },
      samplesMs: { nsDelete: [0.4, 0.4], unlink: [0.1, 0.1] },
    };
    const r = result({
      suite: "teardown",
      runtime: "bun",
      options: { n: 2, rounds: 1, agent: "on" },
      samples: [round],
    });
    const text = renderBlock("teardown", {}, [{ path: "bench/results/t.json", result: r }]);
    const line = text.split("\n").find((l) => l.startsWith("bun  "))!;
    assert.deepEqual(line.trim().split(/\s{2,}/).slice(-3), ["120.0 / 60.3 / 20.0", "75.0", "0.0"]);
    assert.match(text, /thread cpu \/ runnable \/ asleep/);
  });
});

describe("bench/render.ts how-fast (the README's table)", () => {
  it("renders the CNI and podman rows: nslink, no hand-off, the reference, and the ratio", () => {
    const text = renderBlock("how-fast", {}, [
      { path: "bench/results/cni-all-1.json", result: cni },
      { path: "bench/results/podman-compiled-1.json", result: podman },
    ]);
    assert.deepEqual(row(text, "CNI ADD"), ["CNI ADD", "11.00", "22.00", "11.00", "1.00x"]);
    assert.deepEqual(row(text, "CNI DEL, one port"), [
      "CNI DEL, one port",
      "40.00",
      "50.00",
      "200.00",
      "0.20x",
    ]);
    assert.deepEqual(row(text, "podman run, lone network"), [
      "podman run, lone network",
      "525.0",
      "600.0",
      "400.0",
      "1.31x",
    ]);
    assert.deepEqual(row(text, "podman run, network in use").slice(1), [
      "450.0",
      "480.0",
      "500.0",
      "0.90x",
    ]);
    // the provenance of both files heads the block
    assert.match(text, /from bench\/results\/cni-all-1\.json/);
    assert.match(text, /from bench\/results\/podman-compiled-1\.json/);
  });

  it("renders from either file alone (as --latest tries a candidate), and refuses another suite", () => {
    const alone = renderBlock("how-fast", {}, [{ path: "bench/results/p.json", result: podman }]);
    assert.ok(!alone.includes("CNI ADD"));
    assert.match(alone, /podman run, lone network/);
    const teardown = result({ suite: "teardown" });
    assert.throws(
      () => renderBlock("how-fast", {}, [{ path: "bench/results/t.json", result: teardown }]),
      /render how-fast: bench\/results\/t\.json is a teardown result/,
    );
  });
});

describe("bench/render.ts --latest and issue 21's tables", () => {
  const full = mainResult([
    mainPeer("go-netlink-fast", [mainRun(1, 20, 10)]),
    mainPeer("nslink-fast-deno", [mainRun(1, 40, 30)]),
    mainPeer("ip-batch", [mainRun(1, 50)]),
  ]);
  const subset = mainResult([
    mainPeer("go-netlink-fast", [mainRun(1, 20, 10)]),
    mainPeer("nslink-fast-deno", [mainRun(1, 40, 30)]),
  ]);

  it("keeps a main table off a newer run of only some of its peers", () => {
    const pool: Record<string, ResultFile> = {
      "bench/results/main-all-20261207T205956Z.json": full,
      "bench/results/main-all-20261207T233126Z.json": subset,
    };
    const page =
      `${BLOCK_START}main bench/results/main-all-20261207T205956Z.json -->\n${BLOCK_END}\n`;
    const { changes } = pointAtLatest(page, Object.keys(pool), (p) => pool[p]);
    assert.deepEqual(changes, []);
    // a newer run with every peer (and more) is taken
    pool["bench/results/main-all-20261208T005500Z.json"] = full;
    const again = pointAtLatest(page, Object.keys(pool), (p) => pool[p]);
    assert.equal(again.changes.length, 1);
    assert.match(again.text, /main-all-20261208T005500Z\.json -->/);
  });

  it("points the podman and how-fast markers at the newest files", () => {
    const pool: Record<string, ResultFile> = {
      "bench/results/podman-compiled-20261207T233334Z.json": podman,
      "bench/results/podman-compiled-20261208T005500Z.json": podman,
      "bench/results/cni-all-20261207T233124Z.json": cni,
      "bench/results/cni-all-20261208T005400Z.json": cni,
    };
    const page = `${BLOCK_START}how-fast bench/results/cni-all-20261207T233124Z.json ` +
      `bench/results/podman-compiled-20261207T233334Z.json -->\n${BLOCK_END}\n` +
      `${BLOCK_START}podman bench/results/podman-compiled-20261207T233334Z.json -->\n` +
      `${BLOCK_END}\n`;
    const { text, changes } = pointAtLatest(page, Object.keys(pool), (p) => pool[p]);
    assert.equal(changes.length, 3);
    assert.ok(
      text.includes(
        `${BLOCK_START}how-fast bench/results/cni-all-20261208T005400Z.json ` +
          `bench/results/podman-compiled-20261208T005500Z.json -->`,
      ),
      text,
    );
    assert.ok(
      text.includes(`${BLOCK_START}podman bench/results/podman-compiled-20261208T005500Z.json -->`),
    );
  });
});
