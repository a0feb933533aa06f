/**
 * Codec micro-benchmark: encodes 100,000 link requests (a veth pair with MTU, MAC and the peer
 * in a namespace: what the fast path sends) and decodes a 10,000-link dump built from a link
 * message captured from the kernel (tests/fixtures/link-show.dump.hex). Each is run `--warmup`
 * times untimed (so the code is compiled and hot), then `--passes` times timed; prints one JSON line
 * with the median and p90 rates and writes a result file (bench/lib/results.ts) with every
 * pass's time. Runs under Deno and Bun; needs no root.
 *
 * Usage: deno run -A bench/codec.ts | bun bench/codec.ts
 *   [--encode 100000] [--decode 10000] [--warmup 3] [--passes 10]
 *
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import { decode } from "../netlink/codec.ts";
import {
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  RTM_NEWLINK,
} from "../netlink/constants.ts";
import { encodeRequest } from "../netlink/socket.ts";
import { LinkMessage, type LinkMessageInput } from "../rtnl/messages/link.ts";
import { toLink } from "../rtnl/link.ts";
import { currentRuntime, finishResult, quantiles, startResult } from "./lib/results.ts";

const argv = process.argv.slice(2);
const opt = (k: string, d: number) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 ? Number(argv[i + 1]) : d;
};
const ENCODE = opt("encode", 100_000);
const DECODE = opt("decode", 10_000);
const WARMUP = opt("warmup", 3);
const PASSES = opt("passes", 10);
if (!(PASSES >= 1) || !(WARMUP >= 0)) {
  throw new Error("codec: --passes must be >= 1, --warmup >= 0");
}
const run = startResult("codec", {
  encode: ENCODE,
  decode: DECODE,
  warmup: WARMUP,
  passes: PASSES,
});

function request(i: number): LinkMessageInput {
  return {
    flags: 1,
    change: 1,
    mtu: 1500,
    master: 4,
    ifname: `nslh${(i & 0xffff).toString(16).padStart(8, "0")}`,
    linkinfo: {
      kind: "veth",
      data: { peer: { mtu: 1500, address: "02:42:c6:33:64:0a", ifname: "eth0", netnsFd: 7 } },
    },
  };
}

// Encode: build the value and encode the whole request (header included), as Rtnl does.
let bytes = 0;
function encodePass(): number {
  bytes = 0;
  const t0 = performance.now();
  for (let i = 0; i < ENCODE; i++) {
    bytes += encodeRequest(
      RTM_NEWLINK,
      NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      i,
      LinkMessage,
      request(i),
    ).length;
  }
  return performance.now() - t0;
}

// Decode: a 10,000-message dump made of the kernel's own RTM_NEWLINK for nsl0a (a veth with a
// master, full attributes and statistics), split and decoded as the socket does.
const hex = readFileSync(
  new URL("../tests/fixtures/link-show.dump.hex", import.meta.url).pathname,
  "utf8",
)
  .split("\n").filter((l) => !l.startsWith("#")).join(" ").trim().split(/\s+/).map((h) =>
    parseInt(h, 16)
  );
const fixture = new Uint8Array(hex);
const dv = new DataView(fixture.buffer);
let sample: Uint8Array | undefined;
for (let off = 0; off + 16 <= fixture.length;) {
  const len = dv.getUint32(off, true);
  const m = fixture.subarray(off, off + len);
  if (
    dv.getUint16(off + 4, true) === RTM_NEWLINK &&
    toLink(decode(LinkMessage, m.subarray(16))).name === "nsl0a"
  ) sample = m;
  off += (len + 3) & ~3;
}
if (!sample) throw new Error("no nsl0a message in the fixture");
const msgLen = (sample.length + 3) & ~3;
const dump = new Uint8Array(msgLen * DECODE);
for (let i = 0; i < DECODE; i++) dump.set(sample, i * msgLen);
const ddv = new DataView(dump.buffer);
function decodePass(): number {
  let names = 0;
  const t1 = performance.now();
  for (let off = 0; off < dump.length;) {
    const len = ddv.getUint32(off, true);
    const link = toLink(decode(LinkMessage, dump.slice(off + 16, off + len)));
    names += link.name.length;
    off += (len + 3) & ~3;
  }
  const ms = performance.now() - t1;
  if (names !== 5 * DECODE) throw new Error("decode check failed");
  return ms;
}

// Warm-up passes (untimed), then the timed ones, encode and decode alternating.
for (let k = 0; k < WARMUP; k++) {
  encodePass();
  decodePass();
}
const encodeMs: number[] = [];
const decodeMs: number[] = [];
for (let k = 0; k < PASSES; k++) {
  encodeMs.push(encodePass());
  decodeMs.push(decodePass());
}
// Rates per pass; the median rate and the p90 of the pass times (the slow tail) as a rate.
const rate = (count: number, ms: number) => Math.round(count / (ms / 1000));
const enc = quantiles(encodeMs);
const dec = quantiles(decodeMs);
const summary = {
  encodePerSecond: rate(ENCODE, enc.median),
  encodePerSecondP90: rate(ENCODE, enc.p90),
  decodePerSecond: rate(DECODE, dec.median),
  decodePerSecondP90: rate(DECODE, dec.p90),
};
const path = finishResult(run, {
  samples: {
    unit: "ms per timed pass",
    encodeMs: encodeMs.map((x) => Math.round(x * 1000) / 1000),
    decodeMs: decodeMs.map((x) => Math.round(x * 1000) / 1000),
    encodeBytesPerMessage: Math.round(bytes / ENCODE),
    decodeBytesPerMessage: sample.length,
  },
  summary,
});
if (path) console.error(`wrote ${path}`);

console.log(JSON.stringify({
  runtime: currentRuntime(),
  encodeMessages: ENCODE,
  encodeBytesPerMessage: Math.round(bytes / ENCODE),
  decodeMessages: DECODE,
  decodeBytesPerMessage: sample.length,
  warmup: WARMUP,
  passes: PASSES,
  ...summary,
}));
