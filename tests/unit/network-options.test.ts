/**
 * Unit tests (no root, no kernel) of the libnetwork API's input checks that run before any
 * netlink socket is opened: driver types, network and endpoint names, the state directory
 * option, reopening, and the `Interface` a namespace is asked to add. Checks that need the
 * host's addresses (subnet overlap, bridge options) live in `tests/priv/network-input.test.ts`.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Driver,
  FileStore,
  getDriver,
  type Interface,
  knownTypes,
  listNetworks,
  LocalStore,
  Namespace,
  type NetNs,
  Network,
  type NetworkRecord,
  newNetwork,
  openNetwork,
  registerDriver,
  StaleNetworkError,
} from "../../mod.ts";
import { createPool } from "../../model/ipam.ts";

// A unit test never starts the host agent: it would run on the machine (outside any
// throw-away namespace) and take the firewall's lock in its /run.
process.env.NSLINK_AGENT = "off";

const root = mkdtempSync(join(tmpdir(), "nsl-net-options-"));
after(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
function freshDir(): string {
  return join(root, `s${seq++}`);
}

function rejectsWith(
  type: abstract new (...args: never[]) => Error,
  re: RegExp,
): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof type, `expected a ${type.name}, got ${e}`);
    assert.match((e as Error).message, re);
    return true;
  };
}

describe("network types", () => {
  it("knows bridge, simplebridge, null, host, macvlan, ipvlan and overlay", () => {
    assert.deepEqual(knownTypes(), [
      "bridge",
      "host",
      "ipvlan",
      "macvlan",
      "null",
      "overlay",
      "simplebridge",
    ]);
    assert.equal(getDriver("overlay").type, "overlay");
    assert.equal(getDriver("simplebridge"), getDriver("bridge"));
    assert.equal(getDriver("simplebridge").type, "bridge");
    assert.equal(getDriver("null").type, "null");
    assert.equal(getDriver("host").type, "host");
  });

  it("refuses an unknown type with a TypeError listing the known ones, touching nothing", async () => {
    const dir = freshDir();
    for (const type of ["vxlan", "", "Bridge", "Macvlan", "Overlay"]) {
      await assert.rejects(
        newNetwork(type, "n1", { stateDir: dir, subnet: "198.51.100.0/24" }),
        rejectsWith(
          TypeError,
          new RegExp(
            `^Unknown network type "${type}": known types are bridge, host, ipvlan, macvlan, null, overlay, simplebridge$`,
          ),
        ),
      );
    }
    assert.equal(existsSync(dir), false, "the state directory was created");
  });

  it("refuses to register a driver under a name already taken", () => {
    const fake: Driver = { ...getDriver("null"), type: "null2", aliases: ["simplebridge"] };
    assert.throws(() => registerDriver(fake), rejectsWith(TypeError, /"simplebridge" is already/));
    assert.throws(() => getDriver("null2"), TypeError, "a half-registered driver");
  });

  it("newNetwork returns a rejected promise, never throws synchronously", () => {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      p = newNetwork("nope", "n1");
    });
    return assert.rejects(p!, TypeError);
  });
});

describe("network names and the stateDir option", () => {
  const bad = [
    "",
    " ",
    "a b",
    "-a",
    ".a",
    "_a",
    "a/b",
    "../x",
    "a\nb",
    "x".repeat(65),
    "é",
  ];

  it("newNetwork refuses bad names before touching anything", async () => {
    const dir = freshDir();
    for (const name of bad) {
      await assert.rejects(
        newNetwork("bridge", name, { stateDir: dir }),
        rejectsWith(TypeError, /^Invalid network name/),
      );
    }
    for (const name of [undefined, null, 7] as unknown as string[]) {
      await assert.rejects(newNetwork("null", name, { stateDir: dir }), TypeError);
    }
    assert.equal(existsSync(dir), false, "the state directory was created");
  });

  it("refuses 65 characters", async () => {
    const dir = freshDir();
    await assert.rejects(newNetwork("null", "a".repeat(65), { stateDir: dir }), TypeError);
    assert.equal(existsSync(dir), false);
  });

  it("refuses a stateDir that is not a string", async () => {
    for (const stateDir of [7, {}, ["x"], true]) {
      await assert.rejects(
        newNetwork("null", "n1", { stateDir } as unknown as { stateDir: string }),
        rejectsWith(TypeError, /Option "stateDir" must be a string/),
      );
    }
    await assert.rejects(newNetwork("null", "n1", { stateDir: "" }), TypeError);
  });

  it("openNetwork refuses bad names and reports a missing network", async () => {
    const dir = freshDir();
    for (const name of bad) {
      await assert.rejects(
        openNetwork(name, { stateDir: dir }),
        rejectsWith(TypeError, /^Invalid network name/),
      );
    }
    await assert.rejects(
      openNetwork("missing", { stateDir: dir }),
      rejectsWith(Error, /Network "missing" does not exist in/),
    );
    assert.deepEqual(listNetworks({ stateDir: dir }), []);
  });
});

/** A network object over a hand-written record, with no kernel behind it. */
function offlineNetwork(dir: string): Network {
  const record: NetworkRecord = {
    version: 1,
    name: "n1",
    type: "bridge",
    id: "0123456789ab",
    created: new Date(0).toISOString(),
    config: {
      bridgeName: "nslunit0",
      mtu: 1500,
      containerInterfacePrefix: "eth",
      adopted: false,
      addedAddresses: [],
    },
    pools: { v4: createPool("198.51.100.0/24") },
    endpoints: {
      c1: {
        interfaces: [],
        hostLinks: [],
      },
    },
  };
  const store = new FileStore(dir);
  // The saved layout: the network's own file, and one file per endpoint.
  assert.equal(store.createNetwork(record), true);
  assert.equal(store.createEndpoint(record, "c1", record.endpoints.c1), true);
  return Network.fromRecord(record, new LocalStore(store), false);
}

describe("link and unlink: endpoint names", () => {
  it("refuse bad endpoint names and a second link of an endpoint", async () => {
    const dir = freshDir();
    const network = offlineNetwork(dir);
    assert.equal(network.subnet, "198.51.100.0/24");
    assert.equal(network.gateway, "198.51.100.1");
    assert.equal(network.subnetIPv6, "");
    assert.equal(network.stateDir, dir);
    assert.deepEqual(network.endpoints(), ["c1"]);
    for (const name of ["", "a b", "-a", "../x", "a/b", "x".repeat(65)]) {
      await assert.rejects(network.link(name), rejectsWith(TypeError, /^Invalid endpoint name/));
      await assert.rejects(network.unlink(name), rejectsWith(TypeError, /^Invalid endpoint name/));
    }
    await assert.rejects(
      network.link("c1"),
      rejectsWith(TypeError, /^Endpoint "c1" is already linked to network "n1"$/),
    );
    assert.deepEqual(network.endpoints(), ["c1"]);
  });

  it("link on a network whose state is gone says so", async () => {
    const dir = freshDir();
    const network = offlineNetwork(dir);
    const store = new FileStore(dir);
    store.removeNetwork(store.readNetwork("n1")!);
    await assert.rejects(
      network.link("c2"),
      rejectsWith(StaleNetworkError, /^Network "n1" \(id 0123456789ab\) no longer exists/),
    );
    await network.unlink("c2"); // nothing to do
    await network.delete(); // already gone
    assert.deepEqual(network.endpoints(), []);
  });
});

/** A namespace object over a fake, closed namespace: any kernel use would fail loudly. */
function offlineNamespace(): Namespace {
  const fake = {
    path: "/run/netns/nsl-unit-fake",
    fd: -1,
    close() {},
  } as unknown as NetNs;
  return Namespace.fromNetNs(fake, false);
}

describe("addInterface: the Interface is checked first", () => {
  const good: Interface = {
    srcName: "nslc01234567",
    dstName: "eth0",
    macAddress: "02:42:c6:33:64:02",
    address: "198.51.100.2/24",
    addressIPv6: "2001:db8:1::2/64",
    gateway: "198.51.100.1",
    gatewayIPv6: "2001:db8:1::1",
    mtu: 1500,
  };
  const bad: [Partial<Interface> | null, RegExp][] = [
    [{ dstName: "" }, /dstName/],
    [{ dstName: "a/b" }, /dstName/],
    [{ dstName: "x".repeat(16) }, /dstName/],
    [{ srcName: "a b" }, /srcName/],
    [{ macAddress: "01:00:5e:00:00:01" }, /multicast/],
    [{ macAddress: "00:00:00:00:00:00" }, /all zeros/],
    [{ macAddress: "zz" }, /MAC/i],
    [{ address: "2001:db8:1::2/64" }, /must be IPv4/],
    [{ address: "198.51.100.2" }, /CIDR|prefix|Invalid/i],
    [{ addressIPv6: "198.51.100.2/24" }, /must be IPv6/],
    [{ gateway: "2001:db8:1::1" }, /must be IPv4/],
    [{ gateway: "banana" }, /Invalid IP address/],
    [{ gatewayIPv6: "198.51.100.1" }, /must be IPv6/],
    [{ mtu: 10 }, /Invalid MTU/],
    [{ mtu: 70000 }, /Invalid MTU/],
    [null, /Invalid interface/],
  ];
  for (const [change, re] of bad) {
    it(`refuses ${JSON.stringify(change)}`, async () => {
      const ns = offlineNamespace();
      const iface = change === null ? null : { ...good, ...change };
      await assert.rejects(ns.addInterface(iface as Interface), (e) => {
        assert.ok(e instanceof TypeError || e instanceof RangeError, `got ${e}`);
        assert.match((e as Error).message, re);
        return true;
      });
      assert.deepEqual(ns.interfaces, []);
    });
  }

  it("a well-formed Interface passes the checks and then needs the (closed) namespace", async () => {
    const ns = offlineNamespace();
    await assert.rejects(ns.addInterface(good), /is closed/);
  });
});
