/**
 * `Network`'s core on the asynchronous `Store` contract (issue 16): an endpoint's addresses are
 * reserved in the store before its driver runs, by the driver's address rules (`pools`,
 * `excluded`), and released by `Network` when anything after fails; a store whose answers
 * really wait (as etcd's do) works the same, also with links running concurrently in one
 * process. A driver with no kernel objects (not registered: the registry is shared by every
 * test file Bun runs in one process): no root needed.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Driver, EndpointRecord, NetworkRecord } from "../../drivers/driver.ts";
import { createPool, IpamExhaustedError, type Pool, setPoolRange } from "../../model/ipam.ts";
import { Network } from "../../network/network.ts";
import { FileStore, type HostedStore, LocalStore } from "../../network/store.ts";

// A unit test never starts the host agent: it would run on the machine (outside any
// throw-away namespace) and take the firewall's lock in its /run.
process.env.NSLINK_AGENT = "off";

const root = mkdtempSync(join(tmpdir(), "nsl-net-store-"));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;

/** What the driver saw at each link: the addresses handed to it, and who held them then. */
const seen = new Map<string, { v4: string; v6: string; held: (string | undefined)[] }>();

const bare = (a: string) => a.split("/")[0];

/** No kernel objects; automatic IPv4 only from .4-.6, never .4 or 2001:db8:16::2. */
const rulesDriver: Driver = {
  type: "s16rules",
  aliases: [],
  configure() {
    return {
      config: {},
      pools: { v4: createPool("198.51.100.0/28"), v6: createPool("2001:db8:16::/64") },
    };
  },
  pools(record: NetworkRecord): { v4?: Pool } {
    return { v4: setPoolRange(structuredClone(record.pools.v4!), "198.51.100.4-198.51.100.6") };
  },
  excluded(): string[] {
    return ["198.51.100.4", "2001:db8:16::2"];
  },
  create() {},
  destroy() {},
  link(ctx, record, endpoint, options): EndpointRecord {
    const v4 = ctx.allocate!(record.pools.v4!, endpoint, options.address);
    const v6 = ctx.allocate!(record.pools.v6!, endpoint, options.addressIPv6);
    // The same directory, read by another object: the claims are there before the driver runs.
    const files = new FileStore(stateOf(record));
    seen.set(endpoint, {
      v4,
      v6,
      held: [files.holder(record, bare(v4)), files.holder(record, bare(v6))],
    });
    if (endpoint.startsWith("bad")) throw new Error(`driver failure for ${endpoint}`);
    return {
      interfaces: [{
        srcName: "",
        dstName: "eth0",
        macAddress: "",
        address: v4,
        addressIPv6: v6,
        gateway: record.pools.v4!.gateway,
        gatewayIPv6: record.pools.v6!.gateway,
        mtu: 1500,
      }],
      hostLinks: [],
    };
  },
  unlink() {
    return true;
  },
};

const dirs = new Map<string, string>();
function stateOf(record: NetworkRecord): string {
  return dirs.get(record.id)!;
}

/** A network of the rules driver (passed in: a subclass may, as overlay networks do). */
class RulesNetwork extends Network {
  constructor(record: NetworkRecord, store: HostedStore) {
    super(record, store, false, undefined, rulesDriver);
  }
}

/** A network record saved by hand in a fresh state directory, and a network object on it. */
function fresh(): { dir: string; net: Network } {
  const dir = join(root, `s${seq++}`);
  const id = `0e0e0e0e0e${String(seq).padStart(2, "0")}`;
  const { config, pools } = rulesDriver.configure(
    { host: undefined as never, takenSubnets: [], otherConfigs: [] },
    `r${seq}`,
    id,
    {},
  );
  const record: NetworkRecord = {
    version: 1,
    name: `r${seq}`,
    type: "s16rules",
    id,
    created: new Date(0).toISOString(),
    config,
    pools,
    endpoints: {},
  };
  const files = new FileStore(dir);
  assert.equal(files.createNetwork(record), true);
  dirs.set(id, dir);
  return { dir, net: new RulesNetwork(record, new LocalStore(files)) };
}

/** The file store with answers that really wait (a macrotask each), as a remote store's do. */
class SlowStore extends LocalStore {
  override reserve(network: NetworkRecord, address: string, owner: string): Promise<boolean> {
    return new Promise((r) => setTimeout(r, 1)).then(() => super.reserve(network, address, owner));
  }
  override reserved(network: NetworkRecord): Promise<string[]> {
    return new Promise((r) => setTimeout(r, 1)).then(() => super.reserved(network));
  }
  override createEndpoint(n: NetworkRecord, name: string, ep: EndpointRecord): Promise<boolean> {
    return new Promise((r) => setTimeout(r, 1)).then(() => super.createEndpoint(n, name, ep));
  }
}

describe("Network on the Store contract: addresses reserved before the driver runs", () => {
  it("honours the driver's pools() and excluded(), claims first, and leaves nothing on failure", async () => {
    const { dir, net } = fresh();
    const files = new FileStore(dir);
    const record = files.readNetwork(net.name)!;
    const c1 = await net.link("c1");
    // .4 is excluded, .1 is the gateway; the range starts at .4: .5 is the first.
    assert.equal(c1[0].address, "198.51.100.5/28");
    assert.equal(c1[0].addressIPv6, "2001:db8:16::3/64");
    // Held by c1's identity already when the driver ran.
    for (const h of seen.get("c1")!.held) assert.match(h ?? "", /^c1@[0-9a-f]+$/);
    assert.equal((await net.link("c2"))[0].address, "198.51.100.6/28");
    await assert.rejects(net.link("c3"), IpamExhaustedError);
    // A static address may lie outside the range (inside the subnet).
    assert.equal(
      (await net.link("c4", { address: "198.51.100.9" }))[0].address,
      "198.51.100.9/28",
    );
    const before = files.reserved(record).sort();
    // The driver fails after the reservation: Network releases what it reserved, once.
    await assert.rejects(net.link("bad1", { address: "198.51.100.10" }), /driver failure/);
    assert.equal(seen.get("bad1")!.v4, "198.51.100.10/28");
    assert.deepEqual(files.reserved(record).sort(), before);
    assert.equal(files.readEndpoint(record, "bad1"), undefined);
    assert.deepEqual(net.endpoints(), ["c1", "c2", "c4"]);
    await net.unlink("c1");
    assert.equal(files.holder(record, "198.51.100.5"), undefined);
    assert.equal((await net.link("c5"))[0].address, "198.51.100.5/28");
  });

  it("works on a store whose answers wait, with links running concurrently in one process", async () => {
    const { dir, net } = fresh();
    const files = new FileStore(dir);
    const record = files.readNetwork(net.name)!;
    const slow = new RulesNetwork(record, new SlowStore(files));
    const names = ["p1", "p2", "p3"];
    const got = await Promise.all([
      slow.link("p1"),
      slow.link("p2"),
      slow.link("p3", { address: "198.51.100.9" }),
    ]);
    assert.deepEqual(got.map((i) => i[0].address).sort(), [
      "198.51.100.5/28",
      "198.51.100.6/28",
      "198.51.100.9/28",
    ]);
    assert.equal(new Set(got.map((i) => i[0].addressIPv6)).size, 3, "an IPv6 address twice");
    // The same name twice at once: one link wins, the other is refused; nothing is undone.
    const q1 = { address: "198.51.100.11" };
    const twice = await Promise.allSettled([slow.link("q1", q1), slow.link("q1", q1)]);
    assert.equal(twice.filter((r) => r.status === "fulfilled").length, 1);
    const refused = twice.find((r) => r.status === "rejected");
    assert.match(String(refused?.reason), /"q1" of network "r\d+" is being linked by pid/);
    assert.deepEqual(slow.endpoints(), [...names, "q1"].sort());
    // Another object on the same directory sees them (the host's own state).
    assert.deepEqual(net.endpoints(), [...names, "q1"].sort());
  });
});
