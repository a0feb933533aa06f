/**
 * bench/render.ts, the `setup` table (bench/setup.ts, issue 21): per round, each step of the
 * fast path's setup with its part inside libc and its calls, and the libc functions of the last
 * round. A sample result file is built here (no bench is run).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderBlock } from "../../bench/render.ts";
import type { ResultFile } from "../../bench/lib/results.ts";
import { sampleResult } from "./_bench_sample.ts";

function result(samples: unknown): ResultFile {
  return sampleResult({
    suite: "setup",
    runtime: "bun",
    date: "2026-12-08T02:31:26.000Z",
    finished: "2026-12-08T02:33:00.000Z",
    options: { n: 2, rounds: 2, agent: "off" },
    samples,
  });
}

describe("bench/render.ts setup", () => {
  it("renders each round's steps, split into libc and the rest, and the last round's calls", () => {
    const step = (us: number, libc: number, calls: number, symbols = {}) => ({
      usPerCtr: us,
      medianUs: us,
      libcUsPerCtr: libc,
      callsPerCtr: calls,
      firstUs: us,
      symbols,
    });
    const round = (n: number, total: number) => ({
      round: n,
      usPerCtr: total,
      cpuUsPerCtr: 1500,
      libcUsPerCtr: 1000,
      callsPerCtr: 43,
      firstUs: 9000,
      steps: {
        netns: step(500, 400, 16),
        link: step(1000, 500, 25, { sendto: { usPerCtr: 450, callsPerCtr: 1 } }),
        addInterface: step(300, 100, 2),
      },
    });
    const r = result([round(1, 2500), round(2, 1800)]);
    const text = renderBlock("setup", {}, [{ path: "bench/results/s.json", result: r }]);
    const lines = text.split("\n").filter((l) => l.startsWith("bun  "));
    assert.deepEqual(lines[0].trim().split(/\s{2,}/), [
      "bun",
      "1",
      "2500.0",
      "1000.0",
      "1500.0",
      "1500.0",
      "43",
      "500.0 (400.0, 16)",
      "1000.0 (500.0, 25)",
      "300.0 (100.0, 2)",
      "9000.0",
    ]);
    assert.deepEqual(lines[1].trim().split(/\s{2,}/).slice(1, 5), [
      "2",
      "1800.0",
      "1000.0",
      "800.0",
    ]);
    assert.match(text, /bun, round 2, link: sendto 450\.0 \(x1\)/);
    assert.match(text, /2 containers x 2 rounds, host agent off/);
  });

  it("refuses a file of another suite", () => {
    const r = { ...result([]), suite: "teardown" };
    assert.throws(
      () => renderBlock("setup", {}, [{ path: "bench/results/t.json", result: r }]),
      /render setup: bench\/results\/t\.json is a teardown result/,
    );
  });
});
