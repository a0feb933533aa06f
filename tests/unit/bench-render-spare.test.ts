/**
 * bench/render.ts with the `nslink-spare-*` peers (the fast path with spare namespaces, the
 * worker started before the timer): in a `main` table (steps and N=200) as fast peers against
 * Go's fast path, with their per-step medians and the worker's start as a note, and as one row of
 * the README's `how-fast` table. Sample result files are built here.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderBlock } from "../../bench/render.ts";
import type { ResultFile } from "../../bench/lib/results.ts";
import { row, sampleResult } from "./_bench_sample.ts";

/** A peer whose reps took `setup` ms per container (totals = x n), with optional extras. */
function peer(name: string, n: number, setup: number[], extra: Record<string, unknown> = {}) {
  return {
    peer: name,
    variant: "fast",
    status: "ok",
    runs: setup.map((s, k) => ({
      rep: k + 1,
      setupMs: s * n,
      teardownMs: 2 * n,
      teardownCallsMs: 0.2 * n,
      stepsMs: { netns: (s / 4) * n, link: (s / 2) * n },
      ...(name.startsWith("nslink-spare-") ? { spareStartMs: 40 + k * 10, spareMisses: k } : {}),
      ...extra,
    })),
  };
}

function mainResult(n: number, spare = true): ResultFile {
  return sampleResult({
    date: "2026-12-08T03:10:24.000Z",
    finished: "2026-12-08T03:11:00.000Z",
    versions: { deno: "2.9.6", bun: "1.4.5", go: "go1.19.8 linux/amd64" },
    options: { n, reps: 3, steps: true },
    samples: {
      sections: [{
        n,
        peers: [
          peer("go-netlink-fast", n, [1, 1, 1]),
          peer("nslink-fast-deno", n, [2, 2, 2]),
          peer("nslink-fast-bun", n, [3, 3, 3]),
          ...(spare
            ? [peer("nslink-spare-deno", n, [1.5, 1.5, 2]), peer("nslink-spare-bun", n, [2.5, 2.5])]
            : []),
        ],
      }],
    },
  });
}

describe("bench/render.ts: the nslink-spare-* peers", () => {
  it("a main table with steps: spare peers against Go's fast path, steps, the worker's start", () => {
    const text = renderBlock("main", { steps: "1" }, [
      { path: "bench/results/main-all-1.json", result: mainResult(50) },
    ]);
    const deno = row(text, "nslink-spare-deno");
    assert.equal(deno[1], "3"); // reps
    assert.equal(deno[2], "1.500"); // setup ms/ctr, median
    assert.equal(deno[7], "1.50x"); // setup vs go
    assert.equal(deno.at(-1), "fast"); // go ref
    assert.equal(row(text, "nslink-spare-bun")[7], "2.50x");
    assert.match(text, /^nslink-spare-deno: netns 0\.375, link 0\.750$/m);
    assert.match(
      text,
      /^nslink-spare-deno: spare namespaces: worker started before the timer, 50\.0 ms until its first spare \(not in setup\); no spare ready for 1 of 50 containers \(medians\)$/m,
    );
    assert.match(text, /^nslink-spare-bun: spare namespaces: .*45\.0 ms .*0\.5 of 50 /m);
    assert.doesNotMatch(text, /nslink-fast-deno: spare/);
  });

  it("how-fast: one row for the spare peers, Deno and Bun x Go, none without them", () => {
    const text = renderBlock("how-fast", {}, [
      { path: "bench/results/main-all-1.json", result: mainResult(50, false) },
      { path: "bench/results/main-all-2.json", result: mainResult(200) },
    ]);
    assert.deepEqual(row(text, "fast path setup").slice(1), [
      "2.000 (2.00x)",
      "3.000 (3.00x)",
      "1.000",
      "2.000 (2.00x)",
      "3.000 (3.00x)",
      "1.000",
    ]);
    // N=50 had no spare peers; Go has no spare column
    assert.deepEqual(row(text, "setup, spare netns").slice(1), [
      "-",
      "-",
      "-",
      "1.500 (1.50x)",
      "2.500 (2.50x)",
      "-",
    ]);
    const lines = text.split("\n");
    assert.ok(
      lines.findIndex((l) => l.startsWith("setup, spare netns")) ===
        lines.findIndex((l) => l.startsWith("fast path setup")) + 1,
    );
    const without = renderBlock("how-fast", {}, [
      { path: "bench/results/main-all-1.json", result: mainResult(50, false) },
    ]);
    assert.doesNotMatch(without, /spare/);
  });
});
