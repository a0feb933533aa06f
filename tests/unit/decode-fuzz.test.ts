// A seeded fuzz test with a fixed number of mutations of the decoders: every captured message in tests/fixtures/
// (and a few crafted ones: link kinds named like Object.prototype members, a route prefix
// without a destination) is mutated — bytes flipped, lengths and types overwritten, truncated,
// strings spliced in — and decoded, directly and through the link, address and route listings.
// Each attempt must return a value or throw NetlinkDecodeError: never a TypeError, a bare
// RangeError or anything else. NSLINK_FUZZ_SEED replays a run; NSLINK_FUZZ_ITERATIONS sets its length
// (the same seed and count always try the same inputs: no wall-clock bound decides the outcome).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { type AttrCodec, decode, encode } from "../../netlink/codec.ts";
import {
  NLMSG_ERROR,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETROUTE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
} from "../../netlink/constants.ts";
import { NetlinkDecodeError } from "../../netlink/errors.ts";
import { parseAck } from "../../netlink/header.ts";
import type { RawMessage } from "../../netlink/socket.ts";
import { AddrOps } from "../../rtnl/address.ts";
import { LinkOps, toLink } from "../../rtnl/link.ts";
import { AddrMessage } from "../../rtnl/messages/address.ts";
import { LinkMessage } from "../../rtnl/messages/link.ts";
import { RouteMessage } from "../../rtnl/messages/route.ts";
import { RouteOps } from "../../rtnl/route.ts";
import { fixtureNames, loadDatagrams, loadHex, splitMessages } from "./_fixtures.ts";
import { RecordingTransport } from "./_recorder.ts";

const SEED = Number(process.env.NSLINK_FUZZ_SEED ?? 20261202);
const ITERATIONS = Number(process.env.NSLINK_FUZZ_ITERATIONS ?? 20_000);

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

type Family = "link" | "addr" | "route" | "error";

interface Sample {
  from: string;
  family: Family;
  flags: number;
  payload: Uint8Array;
}

function familyOf(type: number): Family | undefined {
  if (type >= 16 && type <= 19) return "link";
  if (type >= 20 && type <= 23) return "addr";
  if (type >= 24 && type <= 27) return "route";
  if (type === NLMSG_ERROR) return "error";
  return undefined;
}

function corpus(): Sample[] {
  const out: Sample[] = [];
  for (const name of fixtureNames().filter((n) => n.endsWith(".hex"))) {
    const datagrams = name.endsWith(".dump.hex") ? loadDatagrams(name) : [loadHex(name)];
    for (const d of datagrams) {
      for (const m of splitMessages(d)) {
        const family = familyOf(m.type);
        if (family) out.push({ from: name, family, flags: m.flags, payload: m.payload });
      }
    }
  }
  // Crafted: kinds that are Object.prototype members, with and without data.
  for (const kind of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
    const data = new Uint8Array([8, 0, 1, 0, 7, 0, 0, 0]);
    out.push({
      from: `crafted kind "${kind}"`,
      family: "link",
      flags: 0,
      payload: encode(LinkMessage, { index: 5, ifname: "x", linkinfo: { kind, data } }),
    });
  }
  // Crafted: a route with a /24 destination prefix and no RTA_DST.
  out.push({
    from: "crafted route without RTA_DST",
    family: "route",
    flags: 0,
    payload: encode(RouteMessage, { family: 2, dstLength: 24, table: 254, type: 1, oif: 2 }),
  });
  return out;
}

const SPLICES = ["constructor\0", "__proto__\0", "toString\0", "veth\0", "bridge\0"].map((s) =>
  new TextEncoder().encode(s)
);

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  const b = src.slice();
  const dv = new DataView(b.buffer);
  const at = (n = 0) => Math.floor(r() * Math.max(1, b.length - n));
  switch (Math.floor(r() * 6)) {
    case 0: // flip bytes
      for (let i = 1 + Math.floor(r() * 4); i > 0 && b.length; i--) b[at()] ^= 1 << (r() * 8);
      return b;
    case 1: // overwrite a 16-bit field on a 4-byte boundary: nla_len or nla_type
      if (b.length >= 2) {
        dv.setUint16(Math.min(at(2) & ~3, b.length - 2), Math.floor(r() * 0x10000), true);
      }
      return b;
    case 2: // a small or huge length
      if (b.length >= 2) {
        const v = [0, 1, 2, 3, 4, 5, 0xffff, b.length, b.length + 4][Math.floor(r() * 9)];
        dv.setUint16(Math.min(at(2) & ~3, b.length - 2), v & 0xffff, true);
      }
      return b;
    case 3: // truncate
      return b.slice(0, at());
    case 4: { // splice a string over some bytes
      const s = SPLICES[Math.floor(r() * SPLICES.length)];
      const o = at();
      b.set(s.subarray(0, Math.max(0, b.length - o)), o);
      return b;
    }
    default: // random garbage appended
      return new Uint8Array([...b, ...Array.from({ length: 1 + at() % 16 }, () => r() * 256)]);
  }
}

const CODECS: Record<Exclude<Family, "error">, AttrCodec<unknown, never>> = {
  link: LinkMessage as unknown as AttrCodec<unknown, never>,
  addr: AddrMessage as unknown as AttrCodec<unknown, never>,
  route: RouteMessage as unknown as AttrCodec<unknown, never>,
};

/** Decodes a payload as the library would: directly, and through the listing that reads it. */
function exercise(family: Family, payload: Uint8Array, flags: number): void {
  if (family === "error") {
    // As the socket reads it: the library's own pure parser.
    parseAck(NLMSG_ERROR, flags, payload);
    return;
  }
  const value = decode(CODECS[family], payload);
  if (family === "link") toLink(value as ReturnType<typeof decode<never>>);
  const reply: RawMessage[] = [{
    type: family === "link" ? RTM_NEWLINK : family === "addr" ? RTM_NEWADDR : RTM_NEWROUTE,
    flags: 2,
    payload: payload as Uint8Array<ArrayBuffer>,
  }];
  const rec = new RecordingTransport({
    dumps: { [RTM_GETLINK]: reply, [RTM_GETADDR]: reply, [RTM_GETROUTE]: reply },
  });
  const links = new LinkOps(rec);
  if (family === "link") links.list();
  if (family === "addr") new AddrOps(rec, links).list();
  if (family === "route") new RouteOps(rec, links).list({ table: 0 });
}

describe("decoders under mutated input", () => {
  it(`return a value or throw NetlinkDecodeError (seed ${SEED}, ${ITERATIONS} mutations)`, () => {
    const samples = corpus();
    assert.ok(samples.length > 20, `only ${samples.length} captured messages`);
    // The unmutated corpus decodes cleanly, except the crafted route (a documented refusal).
    for (const s of samples) {
      if (s.from === "crafted route without RTA_DST") {
        assert.throws(() => exercise(s.family, s.payload, s.flags), {
          name: "NetlinkDecodeError",
          message: /a \/24 destination prefix but no RTA_DST/,
        });
      } else exercise(s.family, s.payload, s.flags);
    }
    const r = rng(SEED);
    let refused = 0;
    for (let n = 0; n < ITERATIONS; n++) {
      const s = samples[Math.floor(r() * samples.length)];
      let bytes = mutate(s.payload, r);
      if (r() < 0.3) bytes = mutate(bytes, r);
      try {
        exercise(s.family, bytes, s.flags);
      } catch (e) {
        if (e instanceof NetlinkDecodeError) {
          assert.ok(Number.isInteger(e.offset) && e.offset >= 0, `bad offset ${e.offset}`);
          refused++;
          continue;
        }
        assert.fail(
          `seed ${SEED} iteration ${n} (${s.from}, ${s.family}): ${(e as Error)?.name}: ${
            (e as Error)?.message
          }\n${Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(" ")}`,
        );
      }
    }
    assert.ok(refused > 0, "no mutation was refused: the mutations are too weak");
  });
});
