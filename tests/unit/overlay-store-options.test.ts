// The store's TLS and auth options of overlay networks and of `nslink agent`: checked before any
// store or kernel access (no etcd needed, no root); the URL forms of TLS stores.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  checkRemote,
  EtcdClient,
  EtcdError,
  type KvStore,
  newNetwork,
  OverlayWatcher,
  parseEtcdUrl,
  type Rtnl,
} from "../../mod.ts";
import { runCli } from "../../cli/app.ts";
import { captureOutput } from "../../cli/io.ts";

const OK = { subnet: "203.0.113.0/24", store: "etcd://127.0.0.1:1", advertise: "198.51.100.11" };

describe("overlay store options", () => {
  it("etcd+https:// stores reach their members over https", () => {
    assert.deepEqual(parseEtcdUrl("etcd+https://198.51.100.1,198.51.100.2:2400"), [
      "https://198.51.100.1:2379",
      "https://198.51.100.2:2400",
    ]);
    assert.throws(() => parseEtcdUrl("etcd+ftp://198.51.100.1"), /Invalid etcd store/);
  });

  it("TLS options need an https store; user and password go together", () => {
    assert.throws(
      () => new EtcdClient("etcd://198.51.100.1", { tls: { ca: "-----BEGIN CERTIFICATE-----" } }),
      /TLS options need an etcd\+https:\/\/ store/,
    );
    assert.throws(
      () => new EtcdClient("etcd://198.51.100.1", { username: "u" }),
      /auth needs both a user name and a password/,
    );
    assert.throws(
      () => new EtcdClient("etcd+https://198.51.100.1", { tls: { cert: "/nonexistent/c.pem" } }),
      /cannot read TLS "cert" file "\/nonexistent\/c\.pem"/,
    );
  });

  it("a malformed storeTls is an error naming the option", async () => {
    await assert.rejects(
      newNetwork("overlay", "ov", { ...OK, storeTls: "ca.pem" }),
      /"storeTls" must be an object/,
    );
    await assert.rejects(
      newNetwork("overlay", "ov", { ...OK, storeTls: { cacert: "x" } }),
      /Unknown "storeTls" field "cacert": known fields are ca, cert, key/,
    );
    await assert.rejects(
      newNetwork("overlay", "ov", { ...OK, storeUser: 5 }),
      /"storeUser" must be a string/,
    );
  });

  it("nslink agent refuses an option that is no store option (usage error)", async () => {
    const io = captureOutput();
    const status = await runCli(
      [
        "agent",
        "--store",
        "etcd://127.0.0.1:1",
        "--advertise",
        "198.51.100.11",
        "-o",
        "mtu=1400",
        "ov1",
      ],
      io,
    );
    assert.equal(status, 2);
    assert.match(io.stderr, /Unknown agent option "mtu": known options are storeCa, storeCert/);
  });
});

describe("checkRemote()", () => {
  const good = {
    name: "e1",
    host: "198.51.100.12",
    mac: "02:42:CB:00:71:05",
    address: "203.0.113.5/24",
    addressIPv6: "2001:DB8:20:0::5/64",
  };
  const rules = { subnets: ["203.0.113.0/24", "2001:db8:20::/64"] };
  it("normalizes a good endpoint", () => {
    assert.deepEqual(checkRemote(JSON.stringify(good), rules), {
      host: "198.51.100.12",
      mac: "02:42:cb:00:71:05",
      address: "203.0.113.5/24",
      addressIPv6: "2001:db8:20::5/64",
    });
  });
  it("names what is wrong", () => {
    const bad = (over: Record<string, unknown>) => () =>
      checkRemote(JSON.stringify({ ...good, ...over }), rules);
    assert.throws(() => checkRemote("null"), /not a JSON object/);
    assert.throws(() => checkRemote("[1"), /not JSON/);
    assert.throws(bad({ host: 7 }), /"host" is not a string/);
    assert.throws(bad({ host: "vtep" }), /tunnel endpoint "vtep" is not an IP address/);
    assert.throws(bad({ mac: "02:42:cb:00:71" }), /bad MAC/);
    assert.throws(bad({ mac: "01:00:5e:00:00:01" }), /multicast MAC/);
    assert.throws(bad({ address: "198.51.100.5/24" }), /outside the network's subnets/);
    assert.throws(bad({ address: "203.0.113.5/16" }), /outside the network's subnets/);
    assert.throws(bad({ address: "2001:db8:20::5/64" }), /is not IPv4/);
    assert.throws(bad({ address: "", addressIPv6: "" }), /no address/);
  });
});

describe("OverlayWatcher.stop()", () => {
  it("releases whoever waits for the first snapshot while the store stays unreachable", async () => {
    let ranges = 0;
    const down = {
      url: "etcd://198.51.100.1:2379",
      range: () => {
        ranges++;
        return Promise.reject(new EtcdError("etcd://198.51.100.1:2379", "range", "unreachable"));
      },
    } as unknown as KvStore;
    const w = new OverlayWatcher({
      store: down,
      prefix: "/nslink/ov/t/endpoints/",
      self: "198.51.100.11",
      vxlan: "vx0",
      rtnl: {} as Rtnl,
    });
    while (ranges === 0) await new Promise((r) => setTimeout(r, 5));
    await w.stop();
    await w.ready; // resolves: an agent waiting on it can exit on SIGTERM
    assert.equal(w.snapshots, 0);
    assert.match(String(w.lastError), /unreachable/);
  });
});
