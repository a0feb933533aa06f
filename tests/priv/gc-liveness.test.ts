/**
 * Privileged tests of `gc()` beside networks that its state directory does not hold: an overlay
 * network (kept in etcd, started inside the throw-away namespace), a bridge network adopted with
 * `bridgeName` on a bridge that existed before (it carries no nslink alias), and a network of a
 * second state directory. gc must leave every one of their links where it is, still on its
 * bridge, and their containers still talking. Underlay 198.51.100.0/24; container subnets from
 * 203.0.113.0/24. Kernel state is checked with `ip -j`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Interface, type Network, newNetwork } from "../../mod.ts";
import { gc } from "../../network/gc.ts";
import {
  type Cleanup,
  exec,
  ip,
  type IpLink,
  ipLinks,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";
import { startEtcd } from "./_etcd.ts";
import {
  assertPing,
  bare,
  namespaceAt,
  setUpNetworkTestFile,
  tempStateDir,
} from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };

async function cmd(argv: string[]): Promise<void> {
  const r = await exec(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

/** Links `names` into namespaces of their own; returns their interfaces by name. */
async function containers(
  c: Cleanup,
  net: Network,
  names: string[],
): Promise<Record<string, Interface>> {
  const out: Record<string, Interface> = {};
  for (const name of names) {
    const ns = await namespaceAt(c, `/run/netns/${P}${name}`);
    const [iface] = await net.link(name, { namespace: ns });
    await ns.addInterface(iface);
    c.defer(`unlink ${name}`, () => net.unlink(name));
    out[name] = iface;
  }
  return out;
}

/**
 * The host ends of the given containers' interfaces, with their bridge (master). A fast-path
 * port carries no alias (issue 21): it is found by its name, `nslh` and the container end's hash.
 */
function hostEnds(links: IpLink[], ifaces: Interface[]): Map<string, string> {
  const names = new Set(ifaces.map((i) => `nslh${i.srcName.slice(4)}`));
  const out = new Map<string, string>();
  for (const l of links) if (names.has(l.ifname)) out.set(l.ifname, l.master ?? "");
  return out;
}

describe("gc() beside networks its state directory does not hold", () => {
  it(
    "leaves overlay containers, an adopted bridge and another state directory's network alone",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        // The underlay and etcd, for the overlay network.
        const underlay = `${P}u`;
        c.link(underlay);
        await cmd(["ip", "link", "add", underlay, "type", "bridge"]);
        await cmd(["ip", "link", "set", underlay, "up"]);
        await cmd(["ip", "addr", "add", "198.51.100.1/24", "dev", underlay]);
        const etcd = await startEtcd(["198.51.100.1"]);
        c.defer("etcd.stop()", () => etcd.stop());

        // 1. An overlay network with two containers on this host.
        const overlay = await newNetwork("overlay", `${P}-ov`, {
          store: etcd.url,
          advertise: "198.51.100.1",
          subnet: "203.0.113.0/26",
        });
        c.link(`nslov${(overlay as unknown as { vni: number }).vni}`);
        c.link(`nslvx${(overlay as unknown as { vni: number }).vni}`);
        c.defer("overlay.delete()", () => overlay.delete());
        const ov = await containers(c, overlay, ["o1", "o2"]);

        // 2. Another state directory: a network on a bridge it adopted, and one it made.
        const other = tempStateDir();
        const adoptedBr = `${P}a`;
        c.link(adoptedBr);
        await cmd(["ip", "link", "add", adoptedBr, "type", "bridge"]);
        const adopted = await newNetwork("bridge", `${P}-ad`, {
          stateDir: other,
          bridgeName: adoptedBr,
          subnet: "203.0.113.64/26",
        });
        c.defer("adopted.delete()", () => adopted.delete());
        const ad = await containers(c, adopted, ["a1", "a2"]);
        c.link(`${P}b`);
        const made = await newNetwork("bridge", `${P}-b`, {
          stateDir: other,
          bridgeName: `${P}b`,
          subnet: "203.0.113.128/26",
        });
        c.defer("made.delete()", () => made.delete());
        const bb = await containers(c, made, ["b1", "b2"]);

        // 3. gc's own state directory: a network with a live container, and a veth tagged as
        // a network nobody has (garbage, still collected).
        const mine = tempStateDir();
        c.link(`${P}m`);
        const own = await newNetwork("bridge", `${P}-m`, {
          stateDir: mine,
          bridgeName: `${P}m`,
          subnet: "203.0.113.192/26",
        });
        c.defer("own.delete()", () => own.delete());
        await containers(c, own, ["m1"]);
        const lost = `${P}l`;
        c.link(lost);
        assert.equal((await ip(["link", "add", lost, "type", "veth", "peer", `${P}k`])).code, 0);
        assert.equal((await ip(["link", "set", lost, "alias", "nslink:00000000cafe:x"])).code, 0);

        const ifaces = [ov, ad, bb].flatMap((m) => Object.values(m));
        const before = hostEnds(await ipLinks(), ifaces);
        assert.equal(before.size, 6, `expected 6 host ends: ${[...before.keys()]}`);
        for (const [name, master] of before) assert.ok(master, `${name} is on no bridge`);

        const dry = await gc({ stateDir: mine, dryRun: true });
        const report = await gc({ stateDir: mine });

        const after = hostEnds(await ipLinks(), ifaces);
        assert.deepEqual(after, before, "gc touched links of networks it does not hold");
        assert.deepEqual(report.links, [`${lost} (nslink:00000000cafe:x, network gone)`]);
        assert.deepEqual(dry.links, report.links);
        assert.deepEqual(report.endpoints, []);
        assert.deepEqual(
          report.foreign.map((f) => f.split(" ")[0]).sort(),
          [...before.keys()].sort(),
        );
        for (const f of report.foreign) assert.match(f, /^nslh\w+ \((nslink:[0-9a-f]+:\w+, )?on /);
        assert.deepEqual(own.endpoints(), ["m1"]);
        // Still talking, each network's containers to one another.
        await assertPing(`/run/netns/${P}o1`, bare(ov.o2.address));
        await assertPing(`/run/netns/${P}a1`, bare(ad.a2.address));
        await assertPing(`/run/netns/${P}b1`, bare(bb.b2.address));
      });
    },
  );
});
