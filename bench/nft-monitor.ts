/**
 * nf_tables event latency (`NftMonitor`): how long after a change an idle consumer sees its
 * event. Two figures: from an in-process commit (nslink's own `Nftables`, a table deleted) to its
 * `table del` event, and from spawning `nft flush ruleset` (what Debian's nftables service runs on
 * every reload) to that event. Prints one JSON line.
 *
 * Usage (root, inside a throw-away namespace: it flushes the ruleset):
 *   bash scripts/in-netns.sh bash scripts/deno.sh run -A bench/nft-monitor.ts [--samples 50]
 *   bash scripts/in-netns.sh node_modules/.bin/bun bench/nft-monitor.ts
 *
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import * as C from "../netfilter/constants.ts";
import { TableMessage } from "../netfilter/messages.ts";
import { NftMonitor } from "../netfilter/monitor.ts";
import { Nftables } from "../netfilter/nftables.ts";

const i = process.argv.indexOf("--samples");
const samples = i > 0 ? Number(process.argv[i + 1]) : 50;
const TABLE = "nslbench";
using nft = Nftables.open();
await using events = NftMonitor.open();
let wake: (() => void) | undefined;
const consumer = (async () => {
  for await (const e of events) {
    if (e.type === "table" && e.action === "del" && e.table === TABLE) wake?.();
  }
})();
const table = (type: number) => ({
  type,
  flags: type === C.NFT_MSG_NEWTABLE ? 0x400 /* NLM_F_CREATE */ : 0,
  codec: TableMessage,
  body: { family: C.NFPROTO_INET, name: TABLE },
  object: `table inet ${TABLE}`,
});

async function sample(remove: () => void): Promise<number> {
  nft.commit([table(C.NFT_MSG_NEWTABLE)]);
  // Idle long enough for a backing-off waiter (Bun) to reach its longest sleep.
  await new Promise((r) => setTimeout(r, 30));
  const got = new Promise<void>((r) => (wake = r));
  const t0 = performance.now();
  remove();
  await got;
  return performance.now() - t0;
}

const commit: number[] = [];
const flush: number[] = [];
for (let k = 0; k < samples; k++) {
  commit.push(await sample(() => nft.commit([table(C.NFT_MSG_DELTABLE)])));
  flush.push(await sample(() => void spawn("nft", ["flush", "ruleset"], { stdio: "ignore" })));
}
events.close();
await consumer;
const stats = (lat: number[]) => {
  lat.sort((a, b) => a - b);
  const q = (p: number) => Math.round(lat[Math.floor(p * (lat.length - 1))] * 1000) / 1000;
  return { medianMs: q(0.5), p90Ms: q(0.9), maxMs: q(1) };
};
console.log(JSON.stringify({
  runtime: "Bun" in globalThis ? "bun" : "deno",
  samples,
  commitToEvent: stats(commit),
  nftFlushSpawnToEvent: stats(flush),
}));
process.exit(0);
