// Neighbour and bridge FDB messages: decoders on the kernel's own dumps (tests/fixtures/), round
// trips, and input checks before anything is sent.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decode, encode } from "../../netlink/codec.ts";
import {
  AF_BRIDGE,
  AF_INET,
  NUD_NOARP,
  NUD_PERMANENT,
  RTM_GETNEIGH,
} from "../../netlink/constants.ts";
import type { RawMessage } from "../../netlink/socket.ts";
import { LinkOps } from "../../rtnl/link.ts";
import { NeighMessage } from "../../rtnl/messages/neighbour.ts";
import { FdbOps, NeighOps } from "../../rtnl/neigh.ts";
import { loadDumpMessages } from "./_fixtures.ts";
import { RecordingTransport } from "./_recorder.ts";

function raw(name: string): RawMessage[] {
  return loadDumpMessages(name).map((m) => ({ type: m.type, flags: m.flags, payload: m.payload }));
}

describe("neighbour and FDB decoders on kernel dumps", () => {
  it("NeighOps.list() returns the two permanent entries of `ip neigh show dev nslvx0`", () => {
    const rec = new RecordingTransport({ dumps: { [RTM_GETNEIGH]: raw("neigh-show.dump.hex") } });
    const got = new NeighOps(rec, new LinkOps(rec)).list({ dev: 5 });
    assert.deepEqual(got, [
      {
        index: 5,
        family: 4,
        address: "203.0.113.3",
        lladdr: "02:42:cb:00:71:03",
        state: ["permanent"],
        flags: 0,
      },
      {
        index: 5,
        family: 6,
        address: "2001:db8:20::3",
        lladdr: "02:42:cb:00:71:03",
        state: ["permanent"],
        flags: 0,
      },
    ]);
  });

  it("FdbOps.list() returns the vxlan's own entry and the remote VTEP entry", () => {
    const rec = new RecordingTransport({ dumps: { [RTM_GETNEIGH]: raw("fdb-show.dump.hex") } });
    const got = new FdbOps(rec, new LinkOps(rec)).list({ dev: 5 });
    assert.equal(got.length, 2);
    assert.deepEqual(got[0].state, ["permanent"]);
    assert.equal(got[0].master, 4); // the device's own MAC, reported through its bridge
    assert.deepEqual(got[1], {
      index: 5,
      lladdr: "02:42:cb:00:71:03",
      dst: "198.51.100.12",
      state: ["permanent", "noarp"],
      flags: 2, // NTF_SELF
    });
  });

  it("the neighbour schema round-trips a vxlan FDB entry with every attribute nslink sends", () => {
    const v = {
      family: AF_BRIDGE,
      index: 5,
      state: NUD_PERMANENT | NUD_NOARP,
      flags: 2,
      type: 0,
      lladdr: "02:42:cb:00:71:03",
      dst: "2001:db8:10::12",
      port: 4789,
      vni: 4242,
    };
    assert.deepEqual(decode(NeighMessage, encode(NeighMessage, v)), v);
  });

  it("the neighbour schema decodes ndmsg fields at their kernel offsets", () => {
    const b = encode(NeighMessage, { family: AF_INET, index: 7, state: 0x80, flags: 0x80 });
    assert.equal(b.length, 12);
    assert.deepEqual([...b], [2, 0, 0, 0, 7, 0, 0, 0, 0x80, 0, 0x80, 0]);
  });
});

describe("neighbour and FDB input checks", () => {
  const rec = new RecordingTransport({ links: { nslvx0: 5 } });
  const links = new LinkOps(rec);
  const neigh = new NeighOps(rec, links);
  const fdb = new FdbOps(rec, links);

  it("refuses a bad address, MAC or state before sending", () => {
    assert.throws(
      () => neigh.add({ dev: 5, address: "203.0.113.300", lladdr: "02:42:cb:00:71:03" }),
      /Invalid IP address "203.0.113.300"/,
    );
    assert.throws(() => neigh.add({ dev: 5, address: "203.0.113.3" }), /needs "lladdr"/);
    assert.throws(() => neigh.add({ dev: 5, address: "203.0.113.3", lladdr: "02:42" }), /MAC/i);
    assert.throws(
      () =>
        neigh.add({
          dev: 5,
          address: "203.0.113.3",
          lladdr: "02:42:cb:00:71:03",
          state: "bogus" as "permanent",
        }),
      /Invalid neighbour state "bogus"/,
    );
    assert.throws(() => fdb.add({ dev: 5, lladdr: "zz", dst: "198.51.100.12" }), /MAC/i);
    assert.throws(
      () => fdb.add({ dev: 5, lladdr: "02:42:cb:00:71:03", dst: "nope" }),
      /Invalid IP address "nope"/,
    );
    assert.equal(rec.sent.length, 0);
  });
});
