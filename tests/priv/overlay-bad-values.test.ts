/**
 * Privileged tests of the overlay watcher against what etcd may hold that nslink never wrote:
 * forged endpoints (an address outside the network's subnets, a bad MAC, a tunnel endpoint that
 * is no registered host), `null` and non-JSON values. Each is skipped and reported, never
 * installed, and never stops the watcher; a VXLAN device deleted and made again gets its
 * entries back by reconciliation. Real etcd 3.4 inside the throw-away namespace; the kernel
 * state is read back with `bridge -j fdb` and `ip -j neigh`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EtcdClient, newNetwork, OverlayWatcher, Rtnl } from "../../mod.ts";
import "../../network/overlay.ts";
import { exec, ipJson, isRoot, runId, SKIP_ROOT, sleep, withCleanup } from "./_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";

const P = runId();
let etcd: EtcdCluster | undefined;
let client: EtcdClient | undefined;

before(async () => {
  if (!isRoot) return;
  etcd = await startEtcd(["127.0.0.31"], { clientPort: 23792, peerPort: 23802 });
  client = new EtcdClient(etcd.url);
});

after(async () => {
  await etcd?.stop();
});

const SELF = "198.51.100.11";
const PEER = "198.51.100.12";

const ep = (n: number, over: Record<string, unknown> = {}) =>
  JSON.stringify({
    name: `e${n}`,
    host: PEER,
    mac: `02:42:cb:00:71:${n.toString(16).padStart(2, "0")}`,
    address: `203.0.113.${n}/24`,
    addressIPv6: `2001:db8:20::${n.toString(16)}/64`,
    ...over,
  });

/** The remote entries on vx0 as `bridge -j fdb` and `ip -j neigh` show them. */
async function kernel(ns: string): Promise<{ fdb: string[]; neigh: string[] }> {
  const r = await exec(["bridge", "-n", ns, "-j", "fdb", "show", "dev", "vx0"]);
  if (r.code !== 0) throw new Error(`bridge fdb show: ${r.stderr}`);
  const fdb = (JSON.parse(r.stdout || "[]") as { mac: string; dst?: string }[])
    .filter((e) => e.dst).map((e) => `${e.mac} ${e.dst}`).sort();
  const neigh = (await ipJson<{ dst: string; lladdr?: string; state?: string[] }[]>([
    "-n",
    ns,
    "neigh",
    "show",
    "dev",
    "vx0",
  ])).filter((n) => n.state?.includes("PERMANENT")).map((n) => `${n.dst} ${n.lladdr}`).sort();
  return { fdb, neigh };
}

function expected(...ns: number[]): { fdb: string[]; neigh: string[] } {
  const mac = (n: number) => `02:42:cb:00:71:${n.toString(16).padStart(2, "0")}`;
  return {
    fdb: ns.map((n) => `${mac(n)} ${PEER}`).sort(),
    neigh: ns.flatMap((
      n,
    ) => [`203.0.113.${n} ${mac(n)}`, `2001:db8:20::${n.toString(16)} ${mac(n)}`])
      .sort(),
  };
}

async function until(what: string, fn: () => Promise<boolean> | boolean, ms = 20_000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function vxlan(rt: Rtnl): void {
  rt.link.add({ kind: "vxlan", name: "vx0", vni: 4200, local: SELF, learning: false, proxy: true });
  rt.link.set("vx0", { master: "br0", up: true });
}

describe("overlay watcher and bad store values", { skip: SKIP_ROOT, timeout: 60_000 }, () => {
  it("forged and malformed endpoints are skipped and reported, never installed; the watcher goes on", async () => {
    await withCleanup(async (c) => {
      const name = `${P}b`;
      const ns = c.namespace(name);
      const rt = Rtnl.open({ netns: ns });
      c.close(rt);
      rt.link.add({ kind: "bridge", name: "br0", up: true });
      vxlan(rt);
      const root = `/nslink/ov/${P}b/`;
      await client!.put(`${root}hosts/${SELF}`, SELF);
      await client!.put(`${root}hosts/${PEER}`, PEER);
      await client!.put(`${root}endpoints/e1`, ep(1));
      // In the snapshot already: a null value, a bad MAC, an address outside the subnet.
      await client!.put(`${root}endpoints/null`, "null");
      await client!.put(`${root}endpoints/badmac`, ep(2, { mac: "02:42:cb:00:71" }));
      await client!.put(`${root}endpoints/outside`, ep(3, { address: "198.51.100.3/24" }));
      const rejected: string[] = [];
      const w = new OverlayWatcher({
        store: client!,
        prefix: `${root}endpoints/`,
        hosts: `${root}hosts/`,
        subnets: ["203.0.113.0/24", "2001:db8:20::/64"],
        self: SELF,
        vxlan: "vx0",
        rtnl: rt,
        onReject: (key) => rejected.push(key.slice(root.length)),
      });
      c.defer("watcher", () => w.stop());
      let ready = false;
      w.ready.then(() => (ready = true));
      await until("the first snapshot", () => ready, 10_000);
      assert.deepEqual(await kernel(name), expected(1));
      assert.deepEqual(rejected.sort(), [
        "endpoints/badmac",
        "endpoints/null",
        "endpoints/outside",
      ]);

      // Through the watch: forged entries, then a good one after them.
      await client!.put(`${root}endpoints/vtep`, ep(4, { host: "198.51.100.66" }));
      await client!.put(`${root}endpoints/notjson`, "{");
      await client!.put(`${root}endpoints/v6out`, ep(6, { addressIPv6: "2001:db8:99::6/64" }));
      await client!.put(`${root}endpoints/mcast`, ep(7, { mac: "03:00:00:00:00:07" }));
      await client!.put(`${root}endpoints/e5`, ep(5));
      await until("e5 installed", async () => (await kernel(name)).fdb.length === 2);
      assert.deepEqual(await kernel(name), expected(1, 5));
      assert.deepEqual([...w.rejected.keys()].map((k) => k.slice(root.length)).sort(), [
        "endpoints/badmac",
        "endpoints/mcast",
        "endpoints/notjson",
        "endpoints/null",
        "endpoints/outside",
        "endpoints/v6out",
        "endpoints/vtep",
      ]);
      assert.match(
        w.rejected.get(`${root}endpoints/vtep`)!,
        /198\.51\.100\.66 is not a registered host/,
      );
      assert.match(w.rejected.get(`${root}endpoints/outside`)!, /outside the network's subnets/);

      // An endpoint already installed turning bad is removed, not kept.
      await client!.put(`${root}endpoints/e1`, ep(1, { mac: "zz" }));
      await until("e1 removed", async () => (await kernel(name)).fdb.length === 1);
      assert.deepEqual(await kernel(name), expected(5));
      // A host that leaves takes its endpoints' entries with it.
      await client!.delete(`${root}hosts/${PEER}`);
      await until("e5 removed", async () => (await kernel(name)).fdb.length === 0);
      assert.deepEqual(await kernel(name), expected());
      await w.stop();
    });
  });

  it("a VXLAN device deleted and made again gets its entries back by reconciliation", async () => {
    await withCleanup(async (c) => {
      const name = `${P}r`;
      const ns = c.namespace(name);
      const rt = Rtnl.open({ netns: ns });
      c.close(rt);
      rt.link.add({ kind: "bridge", name: "br0", up: true });
      vxlan(rt);
      const root = `/nslink/ov/${P}r/`;
      await client!.put(`${root}hosts/${PEER}`, PEER);
      await client!.put(`${root}endpoints/e1`, ep(1));
      const w = new OverlayWatcher({
        store: client!,
        prefix: `${root}endpoints/`,
        hosts: `${root}hosts/`,
        subnets: ["203.0.113.0/24", "2001:db8:20::/64"],
        self: SELF,
        vxlan: "vx0",
        rtnl: rt,
        resync: 1000,
      });
      c.defer("watcher", () => w.stop());
      await w.ready;
      assert.deepEqual(await kernel(name), expected(1));

      // Gone while an event comes: the event cannot be applied; nothing is recorded as
      // installed; once the device is back, the reconciliation installs everything.
      rt.link.del("vx0");
      await client!.put(`${root}endpoints/e2`, ep(2));
      await until(
        "the failed apply",
        () => w.lastError !== undefined && !w.installed.has(`${root}endpoints/e2`),
      );
      vxlan(rt);
      await until("e1 and e2 back", async () => (await kernel(name)).fdb.length === 2);
      assert.deepEqual(await kernel(name), expected(1, 2));
      assert.deepEqual([...w.installed.keys()].sort(), [
        `${root}endpoints/e1`,
        `${root}endpoints/e2`,
      ]);

      // Gone and back with no event at all: the periodic reconciliation restores it.
      rt.link.del("vx0");
      vxlan(rt);
      assert.deepEqual((await kernel(name)).fdb, []);
      await until("entries restored", async () => (await kernel(name)).fdb.length === 2);
      assert.deepEqual(await kernel(name), expected(1, 2));
      await w.stop();
    });
  });

  it("a malformed endpoint record does not keep a host from leaving (delete())", async () => {
    const addr = "198.51.100.41";
    await exec(["ip", "addr", "add", `${addr}/32`, "dev", "lo"]);
    const name = `${P}-leave`;
    const net = await newNetwork("overlay", name, {
      subnet: "203.0.113.0/24",
      store: etcd!.url,
      advertise: addr,
      mtu: 1400,
    });
    let deleted = false;
    try {
      const root = `/nslink/ov/${name}/`;
      await client!.put(`${root}endpoints/junk`, "null");
      await client!.put(`${root}endpoints/junk2`, "{not json");
      await client!.put(`${root}endpoints/junk3`, JSON.stringify({ host: 5 }));
      await net.delete();
      deleted = true;
      assert.equal((await client!.range(root, { prefix: true })).kvs.length, 0);
    } finally {
      if (!deleted) {
        // Leave nothing behind in the kernel even when delete() failed.
        const vni = (net as unknown as { vni: number }).vni;
        await exec(["ip", "link", "del", `nslvx${vni}`]);
        await exec(["ip", "link", "del", `nslov${vni}`]);
      }
      await exec(["ip", "addr", "del", `${addr}/32`, "dev", "lo"]);
    }
  });
});
