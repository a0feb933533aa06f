// The pure message functions the socket runs: request encoding, datagram splitting and ACK /
// error parsing (with extended ACKs), on captured kernel replies and built ones; no root needed.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { u32 } from "../../netlink/codec.ts";
import {
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  RTM_NEWLINK,
} from "../../netlink/constants.ts";
import {
  encodeRequest,
  encodeRequests,
  nlmsghdr,
  parseAck,
  splitDatagram,
} from "../../netlink/header.ts";
import { NetlinkDecodeError } from "../../netlink/errors.ts";
import { loadDatagrams, loadHex } from "./_fixtures.ts";

/** An attribute: length, type, payload, padding. */
function tlv(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array((4 + payload.length + 3) & ~3);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 4 + payload.length, true);
  dv.setUint16(2, type, true);
  out.set(payload, 4);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("splitDatagram()", () => {
  it("finds every message of a captured dump datagram, headers read through nlmsghdr", () => {
    const [first] = loadDatagrams("link-show.dump.hex");
    const spans = splitDatagram(first, first.length);
    assert.equal(spans.length, 4);
    for (const m of spans) {
      assert.equal(m.type, RTM_NEWLINK);
      assert.equal(m.end - m.start, m.len - 16);
    }
    assert.equal(spans.at(-1)!.end, first.length);
  });

  it("stops at a length that runs past the datagram instead of misreading it", () => {
    const ack = loadHex("ack-link-add-veth.reply.hex");
    assert.equal(splitDatagram(ack, ack.length).length, 1);
    assert.equal(splitDatagram(ack, 30).length, 0);
  });
});

describe("parseAck()", () => {
  it("reads the captured extended ACK: errno, echoed request, kernel text", () => {
    const bytes = loadHex("error-extack-mtu.reply.hex");
    const [m] = splitDatagram(bytes, bytes.length);
    const ack = parseAck(m.type, m.flags, bytes.subarray(m.start, m.end));
    assert.equal(ack.error, -22);
    assert.equal(ack.extack, "mtu greater than device maximum");
    assert.equal(nlmsghdr.read(new DataView(ack.echo.slice().buffer), 0).type, RTM_NEWLINK);
  });

  it("reads a capped ACK (header-only echo) as error 0", () => {
    const bytes = loadHex("ack-link-add-veth.reply.hex");
    const [m] = splitDatagram(bytes, bytes.length);
    const ack = parseAck(m.type, m.flags, bytes.subarray(m.start, m.end));
    assert.equal(ack.error, 0);
    assert.equal(ack.echo.length, 16);
    assert.equal(ack.extack, undefined);
  });

  it("reads the offset attribute and an NLMSG_DONE error's TLVs (no echo there)", () => {
    const code = new Uint8Array(4);
    new DataView(code.buffer).setInt32(0, -22, true);
    const off = new Uint8Array(4);
    new DataView(off.buffer).setUint32(0, 36, true);
    const text = new TextEncoder().encode("bad filter\0");
    const done = concat(code, tlv(NLMSGERR_ATTR_MSG, text), tlv(NLMSGERR_ATTR_OFFS, off));
    const ack = parseAck(NLMSG_DONE, NLM_F_ACK_TLVS, done);
    assert.deepEqual(
      { error: ack.error, extack: ack.extack, extackOffset: ack.extackOffset },
      { error: -22, extack: "bad filter", extackOffset: 36 },
    );
    assert.equal(ack.echo.length, 0);
  });

  it("leaves out a malformed extended ACK but keeps the errno", () => {
    const bytes = loadHex("error-extack-mtu.reply.hex");
    const [m] = splitDatagram(bytes, bytes.length);
    const payload = bytes.slice(m.start, m.end);
    // Corrupt the first TLV's length so that it runs past the payload.
    const echoLen = (new DataView(payload.buffer).getUint32(4, true) + 3) & ~3;
    new DataView(payload.buffer).setUint16(4 + echoLen, 0xfff0, true);
    const ack = parseAck(NLMSG_ERROR, m.flags, payload);
    assert.equal(ack.error, -22);
    assert.equal(ack.extack, undefined);
  });

  it("refuses an NLMSG_ERROR too short for its code", () => {
    assert.throws(() => parseAck(NLMSG_ERROR, 0, new Uint8Array(2)), NetlinkDecodeError);
  });
});

describe("encodeRequests()", () => {
  it("numbers the requests from seq and pads each to 4 bytes", () => {
    const flags = NLM_F_REQUEST | NLM_F_ACK;
    const bytes = encodeRequests([
      { type: RTM_NEWLINK, flags, codec: u32, body: 1 },
      { type: RTM_NEWLINK, flags, codec: u32, body: 2 },
    ], 0xffffffff);
    const spans = splitDatagram(bytes, bytes.length);
    assert.deepEqual(spans.map((m) => [m.len, m.seq, m.flags]), [[20, 0xffffffff, flags], [
      20,
      0,
      flags,
    ]]);
    assert.deepEqual(
      encodeRequest(RTM_NEWLINK, flags, 7, u32, 2),
      encodeRequests([{ type: RTM_NEWLINK, flags, codec: u32, body: 2 }], 7),
    );
  });
});
