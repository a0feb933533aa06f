/**
 * bench/render.ts `state-disk`: the split of link and unlink by libc function, tmpfs against disk,
 * rendered only when the result file has it (files written before it still render).
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderBlock } from "../../bench/render.ts";
import type { ResultFile } from "../../bench/lib/results.ts";
import { row, sampleResult } from "./_bench_sample.ts";

function file(runtime: string, symbols?: unknown): ResultFile {
  return sampleResult({
    suite: "state-disk",
    runtime,
    date: "2026-12-08T03:00:00.000Z",
    finished: "2026-12-08T03:01:00.000Z",
    options: { n: 50, rounds: 3, disk: "/x/bench/.state-disk" },
    samples: {
      rounds: {
        tmpfs: { link: [1, 1, 1], unlink: [20, 20, 20] },
        disk: { link: [2, 2, 2], unlink: [21, 21, 21] },
      },
      ...(symbols ? { symbols } : {}),
    },
  });
}

// Three rounds; the medians: link mkdir 10 -> 200 (1 call), open 40 -> 300 (5 calls);
// unlink rmdir 10 -> 1000 (1 call), open absent on tmpfs in one round.
const split = (mkdir: number[], open: number[], rmdir: number[]) =>
  [0, 1, 2].map((i) => ({
    link: { mkdir: { us: mkdir[i], calls: 1 }, open: { us: open[i], calls: 5 } },
    unlink: { rmdir: { us: rmdir[i], calls: 1 } },
  }));
const tmpfs = split([10, 10, 90], [40, 41, 39], [10, 11, 9]);
const disk = split([200, 150, 250], [300, 300, 301], [1000, 900, 1100]);
const symbols = {
  tmpfs: { link: tmpfs.map((r) => r.link), unlink: tmpfs.map((r) => r.unlink) },
  disk: { link: disk.map((r) => r.link), unlink: disk.map((r) => r.unlink) },
};

describe("bench/render.ts state-disk split by libc function", () => {
  it("renders per function calls and µs on tmpfs and disk, sorted by what the disk adds", () => {
    const text = renderBlock("state-disk", {}, [
      { path: "bench/results/state-disk-deno-1.json", result: file("deno", symbols) },
      { path: "bench/results/state-disk-bun-1.json", result: file("bun") },
    ]);
    // the main table is unchanged
    assert.deepEqual(row(text, "deno").slice(1, 4), ["1.000", "2.000", "2.00x"]);
    assert.deepEqual(row(text, "bun").slice(1, 4), ["1.000", "2.000", "2.00x"]);
    // rmdir adds 990 (unlink), open 260, mkdir 190 (link): that order
    const lines = text.split("\n").filter((l) => l.startsWith("deno:"));
    assert.deepEqual(lines.map((l) => l.split(/\s+/)[0]), [
      "deno:rmdir",
      "deno:open",
      "deno:mkdir",
      "deno:all",
      "deno:outside",
    ]);
    assert.deepEqual(row(text, "deno:mkdir"), [
      "deno:mkdir",
      "1.0",
      "10.0",
      "200.0",
      "190.0",
      "0.0",
      "0.0",
      "0.0",
      "0.0",
    ]);
    assert.deepEqual(row(text, "deno:rmdir").slice(5), ["1.0", "10.0", "1000.0", "990.0"]);
    // all libc: medians of each round's sums; link tmpfs 50,51,129 -> 51; disk 500,450,551 -> 500
    assert.deepEqual(row(text, "deno:all libc").slice(1, 5), ["6.0", "51.0", "500.0", "449.0"]);
    // outside libc: the wall median (1 ms, 2 ms) minus libc's median
    assert.deepEqual(row(text, "deno:outside libc").slice(1, 4), ["949.0", "1500.0", "551.0"]);
    // a file without the split renders no split rows
    assert.ok(!text.split("\n").some((l) => l.startsWith("bun:")));
  });

  it("renders no split section when no file has it", () => {
    const text = renderBlock("state-disk", {}, [
      { path: "bench/results/state-disk-deno-1.json", result: file("deno") },
    ]);
    assert.doesNotMatch(text, /split by libc function/);
  });
});
