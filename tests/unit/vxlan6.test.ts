// VXLAN over an IPv6 underlay, below the overlay driver: the requests LinkOps, FdbOps and NeighOps
// send must be iproute2 6.1's bytes (tests/fixtures/vxlan6/*.hex, captured by
// tests/fixtures/vxlan6/capture.sh), the kernel's answers decode to IPv6 addresses, and a device
// whose addresses mix IPv4 and IPv6 is refused before anything is sent.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RTM_GETNEIGH, RTM_NEWLINK } from "../../netlink/constants.ts";
import { decode } from "../../netlink/codec.ts";
import type { RawMessage } from "../../netlink/socket.ts";
import { LinkOps, toLink, vxlanFamily, vxlanOverhead } from "../../rtnl/link.ts";
import { LinkViewMessage } from "../../rtnl/messages/link.ts";
import { FdbOps, NeighOps } from "../../rtnl/neigh.ts";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { hexLines, loadComments, loadDumpMessages, loadHex } from "./_fixtures.ts";
import { RecordingTransport } from "./_recorder.ts";

const DIR = "vxlan6/";
/** The links of a fresh capture namespace (see capture.sh). */
const LINKS = { lo: 1, nsl0b: 2, nsl0a: 3, nslbr0: 4, nslvx0: 5 };
const MAC = "02:42:cb:00:71:03";
const ZERO = "00:00:00:00:00:00";
const PEER = "2001:db8:10::12";

interface Ops {
  rec: RecordingTransport;
  link: LinkOps;
  neigh: NeighOps;
  fdb: FdbOps;
}

function ops(dumps: Record<number, RawMessage[]> = {}): Ops {
  const rec = new RecordingTransport({ links: LINKS, dumps });
  const link = new LinkOps(rec);
  return { rec, link, neigh: new NeighOps(rec, link), fdb: new FdbOps(rec, link) };
}

function command(fixture: string): string {
  const line = loadComments(DIR + fixture).find((l) => l.startsWith("command: "));
  if (!line) throw new Error(`${fixture} has no "# command:" line`);
  return line.slice("command: ".length);
}

interface Case {
  fixture: string;
  what: string;
  run(o: Ops): void;
}

const CASES: Case[] = [
  {
    fixture: "link-add-vxlan6.hex",
    what: "LinkOps.add()",
    run: (o) =>
      o.link.add({
        kind: "vxlan",
        name: "nslvx0",
        vni: 42,
        local: "2001:db8:10::11",
        port: 4789,
        learning: false,
      }),
  },
  {
    fixture: "link-add-vxlan6-proxy.hex",
    what: "LinkOps.add()",
    run: (o) =>
      o.link.add({
        kind: "vxlan",
        name: "nslvx0",
        vni: 42,
        local: "2001:db8:10::11",
        port: 4789,
        learning: false,
        proxy: true,
      }),
  },
  {
    fixture: "link-add-vxlan6-group.hex",
    what: "LinkOps.add()",
    run: (o) =>
      o.link.add({
        kind: "vxlan",
        name: "nslvx0",
        vni: 42,
        group: "ff05::42",
        local: "2001:db8:10::11",
        parent: "nsl0a",
        port: 4789,
      }),
  },
  {
    fixture: "fdb-append-6-flood.hex",
    what: "FdbOps.append()",
    run: (o) => o.fdb.append({ dev: "nslvx0", lladdr: ZERO, dst: PEER }),
  },
  {
    fixture: "fdb-add-6.hex",
    what: "FdbOps.add()",
    run: (o) => o.fdb.add({ dev: "nslvx0", lladdr: MAC, dst: PEER }),
  },
  {
    fixture: "fdb-replace-6.hex",
    what: "FdbOps.replace()",
    run: (o) => o.fdb.replace({ dev: 5, lladdr: MAC, dst: PEER }),
  },
  {
    fixture: "fdb-del-6.hex",
    what: "FdbOps.del()",
    run: (o) => o.fdb.del({ dev: 5, lladdr: MAC, dst: PEER }),
  },
  {
    fixture: "fdb-del-6-flood.hex",
    what: "FdbOps.del()",
    run: (o) => o.fdb.del({ dev: "nslvx0", lladdr: ZERO, dst: PEER }),
  },
  {
    fixture: "neigh-replace-6.hex",
    what: "NeighOps.replace()",
    run: (o) => o.neigh.replace({ dev: "nslvx0", address: "2001:db8:20::3", lladdr: MAC }),
  },
];

describe("golden requests for a VXLAN over IPv6: the ops send what iproute2 6.1 sends", () => {
  for (const c of CASES) {
    it(`${c.what} matches iproute2 for \`${command(c.fixture)}\` (vxlan6/${c.fixture})`, () => {
      const o = ops();
      c.run(o);
      assert.deepEqual(hexLines(o.rec.only()), hexLines(loadHex(DIR + c.fixture)));
    });
  }

  it("every request fixture in tests/fixtures/vxlan6/ has a golden case", () => {
    const requests = readdirSync(
      fileURLToPath(new URL("../fixtures/vxlan6/", import.meta.url).href),
    )
      .filter((f) => f.endsWith(".hex") && !f.endsWith(".dump.hex") && !f.endsWith(".reply.hex"));
    assert.deepEqual(CASES.map((c) => c.fixture).sort(), requests.sort());
  });
});

describe("IPv6 tunnel endpoints in any spelling", () => {
  it("FdbOps and LinkOps send the same bytes for a non-canonical IPv6 address", () => {
    const o = ops();
    o.fdb.append({ dev: 5, lladdr: ZERO, dst: "2001:DB8:10:0:0:0:0:12" });
    assert.deepEqual(hexLines(o.rec.only()), hexLines(loadHex(DIR + "fdb-append-6-flood.hex")));
    const p = ops();
    p.link.add({
      kind: "vxlan",
      name: "nslvx0",
      vni: 42,
      local: "2001:0db8:0010::0011",
      port: 4789,
      learning: false,
    });
    assert.deepEqual(hexLines(p.rec.only()), hexLines(loadHex(DIR + "link-add-vxlan6.hex")));
  });
});

describe("decoding an IPv6 underlay from the kernel's own answers", () => {
  it("toLink() reads local6 from the kernel's link dump with an IPv6 vxlan device", () => {
    const links = loadDumpMessages(DIR + "link-show-vxlan6.dump.hex")
      .filter((m) => m.type === RTM_NEWLINK)
      .map((m) => toLink(decode(LinkViewMessage, m.payload)));
    const link = links.find((l) => l.kind === "vxlan");
    assert.ok(link);
    assert.equal(link.name, "nslvx0");
    assert.equal(link.kind, "vxlan");
    assert.equal(link.master, 4);
    assert.equal(link.data?.local6, "2001:db8:10::11");
    assert.equal(link.data?.local, undefined);
    assert.equal(link.data?.id, 42);
    assert.equal(link.data?.port, 4789);
    assert.equal(link.data?.learning, 0);
    assert.equal(link.data?.proxy, 1);
  });

  it("FdbOps.list() returns the IPv6 flood entry and the per-MAC entry of `bridge fdb show`", () => {
    const dump = loadDumpMessages(DIR + "fdb-show-6.dump.hex").map((m) => ({
      type: m.type,
      flags: m.flags,
      payload: m.payload,
    }));
    const o = ops({ [RTM_GETNEIGH]: dump });
    const remote = o.fdb.list({ dev: 5 }).filter((e) => e.dst !== undefined);
    assert.deepEqual(remote, [
      { index: 5, lladdr: MAC, dst: PEER, state: ["permanent", "noarp"], flags: 2 },
      { index: 5, lladdr: ZERO, dst: PEER, state: ["permanent", "noarp"], flags: 2 },
    ]);
  });
});

describe("a VXLAN device's addresses are of one family", () => {
  const base = { kind: "vxlan", name: "nslvx0", vni: 42 } as const;

  it("LinkOps.add() refuses an IPv6 local with an IPv4 group, naming the option", () => {
    const o = ops();
    assert.throws(
      () => o.link.add({ ...base, local: "2001:db8:10::11", group: "239.1.1.1", parent: 3 }),
      (e: unknown) =>
        e instanceof TypeError && /"group" "239\.1\.1\.1"/.test(e.message) &&
        /IPv4/.test(e.message) && /"local" "2001:db8:10::11" is IPv6/.test(e.message),
    );
    assert.equal(o.rec.sent.length, 0);
  });

  it("LinkOps.add() refuses an IPv4 local with an IPv6 group (or remote)", () => {
    const o = ops();
    assert.throws(
      () => o.link.add({ ...base, local: "198.51.100.11", group: "2001:db8:10::12" }),
      /Invalid VXLAN option "group" "2001:db8:10::12": an IPv6 address, but "local" "198\.51\.100\.11" is IPv4/,
    );
    assert.equal(o.rec.sent.length, 0);
  });

  it("LinkOps.add() names the option of an address that is not one", () => {
    const o = ops();
    assert.throws(
      () => o.link.add({ ...base, local: "2001:db8:10::zz" }),
      /Invalid VXLAN option "local" "2001:db8:10::zz": an IPv4 or IPv6 address/,
    );
    assert.throws(
      () => o.link.add({ ...base, group: "239.1.1" }),
      /Invalid VXLAN option "group" "239\.1\.1"/,
    );
    assert.equal(o.rec.sent.length, 0);
  });

  it("vxlanFamily() says the underlay family; vxlanOverhead() its cost", () => {
    assert.equal(vxlanFamily({ local: "2001:db8:10::11" }), 6);
    assert.equal(vxlanFamily({ local: "2001:db8:10::11", group: "ff05::42" }), 6);
    assert.equal(vxlanFamily({ group: "198.51.100.12" }), 4);
    assert.equal(vxlanFamily({}), undefined);
    assert.equal(vxlanOverhead(4), 50);
    assert.equal(vxlanOverhead(6), 70);
    assert.throws(() => vxlanOverhead(5 as 4), TypeError);
  });
});
