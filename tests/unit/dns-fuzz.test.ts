// A seeded, time-bounded fuzz test of the DNS decoder (like decode-fuzz.test.ts for netlink):
// every captured message in tests/fixtures/dns/ is mutated (bytes flipped, counts and lengths
// overwritten, compression pointers aimed anywhere, truncated, garbage appended) and decoded.
// Each attempt must return a message or throw DnsDecodeError, never anything else, and every
// message it returns must survive encoding and decode to the same value. The resolver must
// answer each mutant without throwing. NSLINK_FUZZ_SEED replays a run; NSLINK_FUZZ_MS bounds it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { DnsDecodeError } from "../../dns/errors.ts";
import { decodeMessage, encodeMessage } from "../../dns/message.ts";
import { NameTable, resolve } from "../../dns/resolver.ts";
import { loadHex } from "./_fixtures.ts";

const SEED = Number(process.env.NSLINK_FUZZ_SEED ?? 20261207);
const BUDGET_MS = Number(process.env.NSLINK_FUZZ_MS ?? 1500);
const MAX_ITERATIONS = 30_000;

/** mulberry32. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DIR = fileURLToPath(new URL("../fixtures/dns/", import.meta.url).href);
const corpus = readdirSync(DIR).filter((n) => n.endsWith(".hex")).sort().map((n) =>
  loadHex(`dns/${n}`)
);

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  const b = src.slice();
  const at = (n = 0) => Math.floor(r() * Math.max(1, b.length - n));
  const rounds = 1 + Math.floor(r() * 3);
  let out = b;
  for (let k = 0; k < rounds; k++) {
    switch (Math.floor(r() * 7)) {
      case 0: // flip bits
        if (out.length) out[at()] ^= 1 << Math.floor(r() * 8);
        break;
      case 1: { // a count in the header
        const o = 4 + 2 * Math.floor(r() * 4);
        if (out.length >= o + 2) {
          out[o] = r() < 0.2 ? 0xff : 0;
          out[o + 1] = Math.floor(r() * 256);
        }
        break;
      }
      case 2: { // a compression pointer anywhere
        const o = at(2);
        if (out.length >= 2) {
          out[o] = 0xc0 | Math.floor(r() * 4);
          out[o + 1] = Math.floor(r() * 256);
        }
        break;
      }
      case 3: // a length byte (label, character-string, RDLENGTH low byte)
        if (out.length) out[at()] = [0, 1, 63, 64, 0x7f, 0xff][Math.floor(r() * 6)];
        break;
      case 4: // truncate
        out = out.slice(0, at());
        break;
      case 5: // garbage appended
        out = new Uint8Array([...out, ...Array.from({ length: 1 + at() % 8 }, () => r() * 256)]);
        break;
      default: { // a slice of another message spliced in
        const other = corpus[Math.floor(r() * corpus.length)];
        const o = Math.floor(r() * other.length);
        out = new Uint8Array([...out.subarray(0, at()), ...other.subarray(o, o + 16)]);
      }
    }
  }
  return out;
}

const table = new NameTable([{
  name: "blue",
  subnets: ["198.51.100.0/24", "2001:db8:1::/64"],
  containers: [{ name: "web", aliases: ["www"], ipv4: ["198.51.100.2"], ipv6: ["2001:db8:1::2"] }],
}]);

describe("DNS decoder fuzz", () => {
  it(`returns a message or throws DnsDecodeError on mutated packets (seed ${SEED})`, () => {
    const r = rng(SEED);
    const start = Date.now();
    let n = 0;
    let decoded = 0;
    for (; n < MAX_ITERATIONS && Date.now() - start < BUDGET_MS; n++) {
      const src = corpus[Math.floor(r() * corpus.length)];
      const bytes = mutate(src, r);
      let m;
      try {
        m = decodeMessage(bytes);
      } catch (e) {
        if (!(e instanceof DnsDecodeError)) {
          assert.fail(
            `iteration ${n} (seed ${SEED}): ${e} on ${
              Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("")
            }`,
          );
        }
      }
      if (m) {
        decoded++;
        assert.deepEqual(decodeMessage(encodeMessage(m)), m, `iteration ${n} (seed ${SEED})`);
      }
      // The resolver takes raw bytes and never throws; its fast path answers byte for byte as
      // the general path does.
      const from = { source: "198.51.100.3", transport: "udp" } as const;
      assert.deepEqual(
        resolve(table, bytes, from),
        resolve(table, bytes, from, { fastPath: false }),
        `iteration ${n} (seed ${SEED})`,
      );
    }
    assert.ok(n > 100, `only ${n} iterations`);
    assert.ok(decoded > 0, "no mutant decoded: the mutations are too harsh to reach deep code");
  });
});
