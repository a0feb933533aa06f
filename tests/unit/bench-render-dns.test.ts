/**
 * bench/render.ts, the DNS tables: `dns` (every server in one run, ratios against dnsmasq,
 * percentiles from the raw per-query latencies, skipped peers with their reason) and `dns-agent`
 * (one file per runtime). Sample result files are built here (no bench is run).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { renderBlock } from "../../bench/render.ts";
import type { ResultFile } from "../../bench/lib/results.ts";
import { sampleResult } from "./_bench_sample.ts";

function result(over: Partial<ResultFile>): ResultFile {
  return sampleResult({
    suite: "dns",
    date: "2026-12-07T19:50:03.120Z",
    finished: "2026-12-07T19:51:09.000Z",
    versions: { deno: "2.9.6", bun: "1.4.5", ip: "ip utility, iproute2-6.1.0, libbpf 1.1.2" },
    options: { names: 100, seconds: 5, latencyRate: 1000, realtime: true },
    ...over,
  });
}

// 100 latencies 1..100 µs: p50 = 50 µs, p99 = 99 µs, max = 100 µs (nearest rank).
const us = Array.from({ length: 100 }, (_, i) => 100 - i);

describe("bench/render.ts: DNS tables", () => {
  it("renders every server of a dns run, ratios against dnsmasq, skipped peers with the reason", () => {
    const text = renderBlock("dns", {}, [{
      path: "bench/results/dns-all-20261207T195003Z.json",
      result: result({
        samples: {
          peers: [
            {
              peer: "nslink-deno",
              status: "ok",
              names: { qps: 90000, sent: 1, lost: 0, avgMs: 1 },
              latency: { rate: 1000, lost: 0, us },
              latencyRealtime: { rate: 1000, lost: 0, us: us.map((x) => x * 2) },
              forward: { qps: 30000, sent: 1, lost: 0, avgMs: 1 },
            },
            {
              peer: "dnsmasq",
              status: "ok",
              names: { qps: 100000, sent: 1, lost: 0, avgMs: 1 },
              latency: { rate: 1000, lost: 2, us },
              forward: { qps: 40000, sent: 1, lost: 0, avgMs: 1 },
            },
            { peer: "aardvark-dns", status: "skipped", reason: "not installed" },
          ],
        },
      }),
    }]);
    const row = (name: string) => text.split("\n").find((l) => l.startsWith(name))!.split(/\s+/);
    assert.deepEqual(row("nslink-deno"), [
      "nslink-deno",
      "90,000",
      "0.90x",
      "0.050",
      "0.099",
      "0.100",
      "0",
      "0.198",
      "30,000",
      "0.75x",
    ]);
    assert.deepEqual(row("dnsmasq"), [
      "dnsmasq",
      "100,000",
      "1.00x",
      "0.050",
      "0.099",
      "0.100",
      "2",
      "-",
      "40,000",
      "1.00x",
    ]);
    assert.match(text, /aardvark-dns\s+skipped: not installed/);
    assert.match(text, /from bench\/results\/dns-all-20261207T195003Z\.json/);
  });

  it("renders the agent's table, one row per runtime", () => {
    const agent = (runtime: string, qps: number, fifo?: number[]) =>
      result({
        suite: "dns-agent",
        runtime,
        samples: {
          names: { qps, sent: 1, lost: 0, avgMs: 1 },
          latency: { rate: 1000, lost: 0, us },
          ...(fifo ? { latencyRealtime: { rate: 1000, us: fifo } } : {}),
          firstQuery: { answered: 20, tries: 20 },
          churn: { links: 100, unlinks: 100, ms: 900, rate: 2000, sent: 1800, lost: 0 },
        },
      });
    const text = renderBlock("dns-agent", {}, [
      { path: "bench/results/dns-agent-deno-x.json", result: agent("deno", 75000) },
      {
        path: "bench/results/dns-agent-bun-x.json",
        result: agent("bun", 45000, us.map((x) => x * 3)),
      },
    ]);
    assert.match(text, /^deno\s+75,000\s+0\.050\s+0\.099\s+-\s+20\/20\s+0 of 1,800$/m);
    assert.match(text, /^bun\s+45,000\s+0\.050\s+0\.099\s+0\.297\s+20\/20\s+0 of 1,800$/m);
  });

  it("refuses a file of another suite", () => {
    assert.throws(
      () => renderBlock("dns", {}, [{ path: "x.json", result: result({ suite: "codec" }) }]),
      /render dns: x\.json is a codec result/,
    );
  });
});
