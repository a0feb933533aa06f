/**
 * bench/render.ts: the README's benchmark tables are rendered from result files, and its check
 * mode fails on a hand edit. Sample result files are built here (no bench is run).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  BLOCK_END,
  BLOCK_START,
  checkReadme,
  pointAtLatest,
  renderBlock,
  renderReadme,
  type ResultLoader,
} from "../../bench/render.ts";
import { quantiles, type ResultFile, resultFileName } from "../../bench/lib/results.ts";
import { sampleResult } from "./_bench_sample.ts";

function result(over: Partial<ResultFile>): ResultFile {
  return sampleResult({
    suite: "codec",
    runtime: "deno",
    date: "2026-12-07T17:50:03.120Z",
    finished: "2026-12-07T17:50:09.000Z",
    versions: { deno: "2.9.6", bun: "1.4.5", ip: "ip utility, iproute2-6.1.0, libbpf 1.1.2" },
    options: { encode: 1000, decode: 100, warmup: 3, passes: 3 },
    samples: { encodeMs: [30, 10, 20], decodeMs: [2, 4, 1] },
    ...over,
  });
}

const codecDeno = result({});
const codecBun = result({
  runtime: "bun",
  machine: { ...codecDeno.machine, loadavgEnd: [1.7, 1, 1], quiet: false },
  samples: { encodeMs: [5, 5, 5, 5], decodeMs: [1, 1, 1, 2] },
  options: { encode: 1000, decode: 100, warmup: 3, passes: 4 },
});
const run = (rep: number, setupMs: number, teardownMs: number, teardownCallsMs?: number) => ({
  rep,
  setupMs,
  teardownMs,
  ...(teardownCallsMs === undefined ? {} : { teardownCallsMs }),
  verified: true,
});
const main = result({
  suite: "main",
  runtime: "all",
  options: { n: 10, reps: 3 },
  samples: {
    sections: [{
      n: 10,
      peers: [
        {
          peer: "ip-batch",
          variant: "classic",
          status: "ok",
          runs: [run(1, 300, 400), run(2, 200, 400), run(3, 250, 400)],
        },
        {
          peer: "go-netlink-fast",
          variant: "fast",
          status: "ok",
          runs: [run(1, 20, 10, 1), run(2, 20, 10, 1), run(3, 20, 10, 1)],
        },
        {
          peer: "nslink-fast-deno",
          variant: "fast",
          status: "ok",
          runs: [run(1, 30, 12, 3), run(2, 50, 14, 2), run(3, 40, 13, 4)],
        },
        {
          peer: "pyroute2",
          variant: "classic",
          status: "skipped",
          reason: "missing pyroute2",
          runs: [],
        },
      ],
    }],
  },
});

const files: Record<string, ResultFile> = {
  "bench/results/codec-deno-20261207T175003Z.json": codecDeno,
  "bench/results/codec-bun-20261207T175003Z.json": codecBun,
  "bench/results/main-all-20261207T175003Z.json": main,
};
const load: ResultLoader = (p) => {
  const r = files[p];
  if (!r) throw new Error(`no such result file ${p}`);
  return r;
};

const README = [
  "# Title",
  "",
  "Some prose.",
  `${BLOCK_START}codec bench/results/codec-deno-20261207T175003Z.json ` +
  `bench/results/codec-bun-20261207T175003Z.json -->`,
  "old text",
  BLOCK_END,
  "",
  `${BLOCK_START}main n=10 bench/results/main-all-20261207T175003Z.json -->`,
  BLOCK_END,
  "Prose after.",
  "",
].join("\n");

describe("bench/render.ts", () => {
  it("renders the codec table from the samples: median and p90 rates per runtime", () => {
    const text = renderBlock("codec", {}, [
      { path: "bench/results/codec-deno-20261207T175003Z.json", result: codecDeno },
      { path: "bench/results/codec-bun-20261207T175003Z.json", result: codecBun },
    ]);
    const lines = text.split("\n");
    // deno: encode median 20 ms for 1,000 → 50,000/s; p90 30 ms → 33,333/s;
    // decode median 2 ms for 100 → 50,000/s, p90 4 ms → 25,000/s.
    const deno = lines.find((l) => l.startsWith("deno "))!.trim().split(/\s{2,}/);
    assert.deepEqual(deno, ["deno", "3 (3)", "50,000", "33,333", "50,000", "25,000"]);
    const bun = lines.find((l) => l.startsWith("bun "))!.trim().split(/\s{2,}/);
    assert.deepEqual(bun, ["bun", "4 (3)", "200,000", "200,000", "100,000", "50,000"]);
    // Provenance: file, date, commit, kernel, CPU, cores, versions, load, label.
    const at = lines.findIndex((l) => l.includes("codec-deno-"));
    const prov = lines.slice(at, at + 3).join("\n");
    for (
      const want of [
        "from bench/results/codec-deno-20261207T175003Z.json: 2026-12-07 17:50 UTC",
        "commit 0123456789",
        "kernel 6.18.0",
        "Test CPU x 2",
        "deno 2.9.6",
        "bun 1.4.5",
        "ip iproute2-6.1.0",
        "load 0.31 -> 0.42 (quiet)",
        "label: unit test sample",
      ]
    ) assert.ok(prov.includes(want), `${want} in ${prov}`);
    const bunAt = lines.findIndex((l) => l.includes("codec-bun-"));
    assert.match(lines[bunAt + 2], /NOT quiet/);
  });

  it("renders the per-container table: medians over reps per container, ratios", () => {
    const text = renderBlock("main", { n: "10" }, [
      { path: "bench/results/main-all-20261207T175003Z.json", result: main },
    ]);
    const row = (peer: string) =>
      text.split("\n").find((l) => l.startsWith(`${peer} `))!.trim().split(/\s{2,}/);
    // setup medians: ip-batch 25, go 2, nslink 4 ms/ctr; calls: go 0.1, nslink 0.3
    assert.deepEqual(row("ip-batch"), [
      "ip-batch",
      "3",
      "25.000",
      "40.000",
      "40.000",
      "1.00x",
      "1.00x",
      "-",
      "-",
      "-",
      "classic",
    ]);
    assert.deepEqual(row("nslink-fast-deno"), [
      "nslink-fast-deno",
      "3",
      "4.000",
      "0.300",
      "1.300",
      "0.16x",
      "0.03x",
      "2.00x",
      "3.00x",
      "1.30x",
      "fast",
    ]);
    assert.deepEqual(row("pyroute2"), ["pyroute2", "SKIPPED"]);
    assert.match(text, /pyroute2: SKIPPED: missing pyroute2/);
  });

  it("fills every block of a README, and the result passes the check", () => {
    const out = renderReadme(README, load);
    assert.ok(!out.includes("old text"));
    assert.ok(out.startsWith("# Title\n\nSome prose.\n"));
    assert.ok(out.endsWith(`${BLOCK_END}\nProse after.\n`));
    assert.deepEqual(checkReadme(out, load), []);
    assert.equal(renderReadme(out, load), out, "rendering is idempotent");
  });

  it("check mode detects a hand edit of a figure, and an unrendered block", () => {
    const out = renderReadme(README, load);
    const edited = out.replace("50,000", "55,000");
    assert.notEqual(edited, out);
    const problems = checkReadme(edited, load);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /codec .*differs from its result files at README line \d+/);
    assert.match(problems[0], /55,000/);
    assert.equal(checkReadme(README, load).length, 2, "the sample's blocks are not rendered yet");
  });

  it("refuses a block without its end marker, and an unknown kind", () => {
    const open = README.replace(`old text\n${BLOCK_END}`, "old text");
    assert.throws(() => renderReadme(open, load), /has no <!-- BENCH:TABLE END -->/);
    const unknown = README.replace("TABLE codec", "TABLE nosuch");
    assert.throws(() => renderReadme(unknown, load), /unknown table kind nosuch/);
    assert.match(checkReadme(unknown, load)[0], /unknown table kind nosuch/);
  });

  it("check mode fails when a block's result file is missing", () => {
    const out = renderReadme(README, load).replace("main-all-20261207T175003Z", "main-all-gone");
    const problems = checkReadme(out, load);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /no such result file bench\/results\/main-all-gone\.json/);
  });
});

describe("bench/render.ts memory", () => {
  it("renders peak RSS at the two container counts and their ratio, per collection", () => {
    const mem = result({
      suite: "memory",
      options: { n: [50, 500], gc: [false, true], round: 50 },
      samples: {
        runs: [
          { n: 50, gc: false, peakRssKb: 1000 },
          { n: 500, gc: false, peakRssKb: 1500 },
          { n: 50, gc: true, peakRssKb: 800 },
          { n: 500, gc: true, peakRssKb: 880 },
        ],
      },
    });
    const text = renderBlock("memory", {}, [{
      path: "bench/results/memory-deno-x.json",
      result: mem,
    }]);
    const rows = text.split("\n").filter((l) => l.startsWith("deno ")).map((l) =>
      l.trim().split(/\s{2,}/)
    );
    assert.deepEqual(rows, [
      ["deno", "runtime's own", "1000", "1500", "1.50x"],
      ["deno", "full GC after each round", "800", "880", "1.10x"],
    ]);
    assert.match(text, /N=50 KiB +N=500 KiB/);
  });
});

describe("bench/render.ts etcd-clients", () => {
  it("renders both clients' cold import and call medians from the raw samples", () => {
    const etcd = result({
      suite: "etcd-clients",
      options: { n: 4, importReps: 3 },
      samples: {
        clients: {
          "nslink-gateway": {
            importMs: [30, 40, 35],
            putMs: [1, 2, 3, 4],
            rangeMs: [1, 1, 1, 1],
            txnMs: [2, 2, 2, 2],
            concurrentTotalMs: [2],
            watchMs: [1, 3, 2],
          },
          "npm-etcd3-grpc": { importMs: [250, 200, 300], putMs: [1, 1, 1, 1] },
        },
      },
    });
    const text = renderBlock("etcd-clients", {}, [{ path: "bench/results/e.json", result: etcd }]);
    const row = (c: string) =>
      text.split("\n").find((l) => l.startsWith(c))!.trim().split(/\s{2,}/);
    assert.deepEqual(row("nslink-gateway"), [
      "nslink-gateway, deno",
      "35.0",
      "2.500",
      "1.000",
      "2.000",
      "0.500",
      "2.000",
    ]);
    assert.deepEqual(row("npm-etcd3-grpc"), [
      "npm-etcd3-grpc, deno",
      "250.0",
      "1.000",
      "-",
      "-",
      "-",
      "-",
    ]);
  });
});

describe("bench/render.ts cni", () => {
  it("renders ADD/DEL medians over every exec of every round, against the nslink base", () => {
    const cni = result({
      suite: "cni",
      runtime: "all",
      options: { n: 2, reps: 2 },
      samples: {
        peers: [
          {
            peer: "nslink-bun",
            reps: [{ rep: 1, addMs: [10, 12], delMs: [20, 20] }, {
              rep: 2,
              addMs: [9, 11],
              delMs: [20, 22],
            }],
          },
          {
            peer: "cni-bridge",
            reps: [{ rep: 1, addMs: [5, 5], delMs: [10, 10] }, {
              rep: 2,
              addMs: [5, 6],
              delMs: [10, 10],
            }],
          },
        ],
        startup: [
          { runtime: "bun cli/main.ts", command: "version", ms: [30, 31, 32] },
          { runtime: "bun cli/main.ts", command: "network ls --format json", ms: [40] },
        ],
      },
    });
    const text = renderBlock("cni", {}, [{ path: "bench/results/cni.json", result: cni }]);
    const row = (c: string) =>
      text.split("\n").find((l) => l.startsWith(c))!.trim().split(/\s{2,}/);
    // Then each nslink case against the reference plugins' same case.
    assert.deepEqual(row("nslink-bun"), [
      "nslink-bun",
      "10.50",
      "20.00",
      "1.00x",
      "1.00x",
      "2.10x",
      "2.00x",
      "cni-bridge",
    ]);
    assert.deepEqual(row("cni-bridge"), [
      "cni-bridge",
      "5.00",
      "10.00",
      "0.48x",
      "0.50x",
      "-",
      "-",
    ]);
    assert.deepEqual(row("bun cli/main.ts"), ["bun cli/main.ts", "31.0", "40.0"]);
    assert.match(text, /ratios against nslink-bun/);
  });
});

describe("bench/render.ts ports", () => {
  it("renders medians, p90 and ratios; netavark's publish as with minus without, pairwise", () => {
    const ports = result({
      suite: "ports",
      options: { reps: 3, connections: 300 },
      samples: {
        runs: {
          publishNslinkMs: [1, 2, 3],
          publishNftProcessMs: [4, 6, 8],
          setupNetavarkWithoutPortMs: [10, 10, 10],
          setupNetavarkMs: [12, 13, 20],
          setupNslinkMs: [2, 2, 2],
          publishAt1Ms: [1, 1, 1],
        },
        connect: { connectAt1: { meanMs: 0.3, medianMs: 0.25 } },
      },
      summary: { publishCniPortmapMs: "skipped: no portmap" },
    });
    const text = renderBlock("ports", {}, [{ path: "bench/results/p.json", result: ports }]);
    const row = (c: string) =>
      text.split("\n").find((l) => l.startsWith(c))!.trim().split(/\s{2,}/);
    assert.deepEqual(row("nslink publish()"), ["nslink publish()", "2.000", "3.000", "1.00x"]);
    assert.deepEqual(row("nft add element"), [
      "nft add element (1 process)",
      "6.000",
      "8.000",
      "3.00x",
    ]);
    assert.deepEqual(row("netavark (+1 port"), [
      "netavark (+1 port: with - without)",
      "3.000",
      "10.000",
      "1.50x",
    ]);
    assert.deepEqual(row("CNI portmap ADD"), ["CNI portmap ADD", "-", "-", "-"]);
    assert.match(text, /CNI portmap ADD: skipped: no portmap/);
    assert.deepEqual(row("1 "), ["1", "1.000", "1.000", "0.250"]);
  });
});

describe("bench/render.ts overlay", () => {
  it("renders convergence and link() medians with p99, the store ratio and the watcher", () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 100];
    const ov = result({
      suite: "overlay",
      options: { n: 10, remote: 100 },
      samples: {
        convergenceMs: ten,
        linkAndAddInterfaceMs: ten,
        pingProcessMs: [3],
        linkOverlayEtcdMs: [4, 4, 4],
        linkBridgeFileMs: [2, 2, 2],
        watcher: {
          remoteEndpoints: 100,
          fdbEntriesInstalled: 100,
          snapshotMs: 20.4,
          cpuMsBefore: 100,
          cpuMsAfterSnapshot: 110,
          cpuMsAfterChurn: 130,
          rssIdleBytes: 50 * 2 ** 20,
          rssAfterSnapshotBytes: 60 * 2 ** 20,
          rssAfterChurnBytes: 70 * 2 ** 20,
          churnMs: 99.6,
        },
      },
    });
    const text = renderBlock("overlay", {}, [{ path: "bench/results/o.json", result: ov }]);
    const row = text.split("\n").find((l) => l.startsWith("deno "))!.trim().split(/\s{2,}/);
    assert.deepEqual(row, [
      "deno",
      "5.5 (100.0)",
      "4.0 (4.0)",
      "2.0 (2.0)",
      "2.00x",
      "20 (10 CPU), 50 MiB -> 60 MiB",
      "100 (20 CPU), 70 MiB",
      "100 / -",
    ]);
  });

  it("shows the kernel's neighbour entries beside its FDB entries when the file has them", () => {
    const ov = result({
      suite: "overlay",
      runtime: "bun",
      options: { n: 1, remote: 100 },
      samples: {
        convergenceMs: [1],
        linkAndAddInterfaceMs: [1],
        pingProcessMs: [1],
        linkOverlayEtcdMs: [3],
        linkBridgeFileMs: [1],
        watcher: {
          remoteEndpoints: 100,
          fdbEntriesInstalled: 100,
          neighEntriesInstalled: 100,
          snapshotMs: 1,
          cpuMsBefore: 0,
          cpuMsAfterSnapshot: 0,
          cpuMsAfterChurn: 0,
          rssIdleBytes: 0,
          rssAfterSnapshotBytes: 0,
          rssAfterChurnBytes: 0,
          churnMs: 1,
        },
      },
    });
    const text = renderBlock("overlay", {}, [{ path: "bench/results/o.json", result: ov }]);
    assert.match(text, /FDB \/ neigh entries/);
    const row = text.split("\n").find((l) => l.startsWith("bun "))!.trim().split(/\s{2,}/);
    assert.equal(row.at(-1), "100 / 100");
    assert.equal(row.at(-3 - 1), "3.00x");
  });
});

describe("bench/render.ts monitor", () => {
  it("renders the wake-up latency's median, p90 and max per runtime", () => {
    const mon = result({ suite: "monitor", samples: { latencyMs: [0.3, 0.1, 0.2, 0.9] } });
    const text = renderBlock("monitor", {}, [{ path: "bench/results/m.json", result: mon }]);
    const row = text.split("\n").find((l) => l.startsWith("deno "))!.trim().split(/\s{2,}/);
    assert.deepEqual(row, ["deno", "4", "0.250", "0.900", "0.900"]);
  });
});

describe("bench/render.ts veth", () => {
  it("renders create and delete medians, nslink against ip", () => {
    const veth = result({
      suite: "veth",
      samples: {
        nslinkAdd: [1, 2, 3],
        nslinkDel: [20, 21, 22],
        ipAdd: [4, 5, 6],
        ipDel: [22, 23, 30],
      },
    });
    const text = renderBlock("veth", {}, [{ path: "bench/results/v.json", result: veth }]);
    const row = text.split("\n").find((l) => l.startsWith("deno "))!.trim().split(/\s{2,}/);
    assert.deepEqual(row, ["deno", "3", "2.000", "5.000", "21.000", "23.000"]);
  });
});

describe("bench/render.ts --latest", () => {
  const later = (r: ResultFile, date: string, over: Partial<ResultFile> = {}): ResultFile => ({
    ...r,
    date,
    ...over,
  });
  const steps = later(main, "2026-12-08T09:00:00.000Z", { options: { n: 10, steps: true } });
  const pool: Record<string, ResultFile> = {
    ...files,
    "bench/results/codec-deno-20261208T090000Z.json": later(codecDeno, "2026-12-08T09:00:00Z"),
    "bench/results/codec-deno-20261208T080000Z.json": later(codecDeno, "2026-12-08T08:00:00Z"),
    // newer, but not a codec result of this schema: not taken
    "bench/results/codec-bun-20261208T090000Z.json": later(codecBun, "2026-12-08T09:00:00Z", {
      suite: "memory",
    }),
    "bench/results/memory-deno-20261209T000000Z.json": later(codecDeno, "2026-12-09T00:00:00Z", {
      suite: "memory",
    }),
    "bench/results/main-all-20261208T090000Z.json": steps,
    "bench/results/main-all-20261208T080000Z.json": later(main, "2026-12-08T08:00:00Z"),
  };
  const poolLoad: ResultLoader = (p) => {
    const r = pool[p];
    if (!r) throw new Error(`no such result file ${p}`);
    return r;
  };
  const PAGE = README.replace(
    BLOCK_END + "\nProse after.",
    `${BLOCK_END}\n${BLOCK_START}main steps=1 bench/results/main-all-20261207T175003Z.json -->\n` +
      `${BLOCK_END}\nProse after.`,
  );

  it("points each marker at the newest file of its suite and runtime that fits the block", () => {
    const { text, changes } = pointAtLatest(PAGE, Object.keys(pool), poolLoad);
    assert.ok(
      text.includes(
        `${BLOCK_START}codec bench/results/codec-deno-20261208T090000Z.json ` +
          `bench/results/codec-bun-20261207T175003Z.json -->`,
      ),
      text,
    );
    // main without steps=1 takes the newest run made without --steps; steps=1 the one with
    assert.ok(
      text.includes(`${BLOCK_START}main n=10 bench/results/main-all-20261208T080000Z.json -->`),
    );
    assert.ok(
      text.includes(`${BLOCK_START}main steps=1 bench/results/main-all-20261208T090000Z.json -->`),
    );
    assert.equal(changes.length, 3);
    // only markers change: the prose and the generated text are as they were
    assert.ok(text.includes("Some prose.\n") && text.includes("old text\n"));
    assert.equal(text.split("\n").length, PAGE.split("\n").length);
    // and the page then renders from the new files
    assert.deepEqual(checkReadme(renderReadme(text, poolLoad), poolLoad), []);
  });

  it("keeps a main table at its container count: a newer run at another N is not taken", () => {
    const other = later(main, "2026-12-09T00:00:00Z", {
      samples: {
        sections: [{ ...(main.samples as { sections: { n: number }[] }).sections[0], n: 200 }],
      },
    });
    const page =
      `${BLOCK_START}main bench/results/main-all-20261207T175003Z.json -->\n${BLOCK_END}\n`;
    const names = ["bench/results/main-all-20261209T000000Z.json"];
    const { changes } = pointAtLatest(page, names, (p) => (p === names[0] ? other : load(p)));
    assert.deepEqual(changes, []);
  });

  it("leaves the page as it is when nothing is newer, and marks files measured loaded", () => {
    assert.deepEqual(pointAtLatest(PAGE, Object.keys(files), load), { text: PAGE, changes: [] });
    const loaded = later(codecDeno, "2026-12-08T10:00:00Z", {
      machine: { ...codecDeno.machine, quiet: false },
    });
    const { changes } = pointAtLatest(
      PAGE,
      ["bench/results/codec-deno-20261208T100000Z.json"],
      (p) => (p.includes("20261208T100000Z") ? loaded : load(p)),
    );
    assert.deepEqual(changes, [
      "codec: bench/results/codec-deno-20261207T175003Z.json -> " +
      "bench/results/codec-deno-20261208T100000Z.json (NOT quiet)",
    ]);
  });
});

describe("bench/lib/results.ts", () => {
  it("names files <suite>-<runtime>-<UTC stamp>.json", () => {
    assert.equal(
      resultFileName({ suite: "codec", runtime: "bun", date: "2026-12-07T17:50:03.120Z" }),
      "codec-bun-20261207T175003Z.json",
    );
  });

  it("computes median and nearest-rank p90", () => {
    assert.deepEqual(quantiles([3, 1, 2]), { median: 2, p90: 3, min: 1, max: 3, n: 3 });
    const ten = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
    assert.equal(quantiles(ten).median, 5.5);
    assert.equal(quantiles(ten).p90, 9);
  });
});
