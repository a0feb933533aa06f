// The overlay driver's input checks (before any store or kernel access), the etcd client's
// URL handling, and its error when no member answers (no etcd needed, no root).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  EtcdClient,
  EtcdError,
  newNetwork,
  openNetwork,
  overlayDevices,
  overlayKeys,
  parseEtcdUrl,
  prefixEnd,
} from "../../mod.ts";

const STORE = "etcd://127.0.0.1:1"; // nothing listens on port 1
const OK = { subnet: "203.0.113.0/24", store: STORE, advertise: "198.51.100.11" };

function rejects(p: Promise<unknown>, type: new (...a: never[]) => Error, re: RegExp) {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${e}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

describe("overlay options are checked before the store or the kernel is touched", () => {
  it("needs store, advertise and an IPv4 subnet", async () => {
    await rejects(
      newNetwork("overlay", "ov", { ...OK, store: undefined }),
      TypeError,
      /^Network "ov" \(overlay\) needs "store" \(etcd:\/\/HOST:PORT/,
    );
    await rejects(
      newNetwork("overlay", "ov", { ...OK, advertise: undefined }),
      TypeError,
      /needs "advertise"/,
    );
    await rejects(
      newNetwork("overlay", "ov", { ...OK, subnet: undefined }),
      TypeError,
      /needs "subnet"/,
    );
    await rejects(
      newNetwork("overlay", "ov", { ...OK, subnet: "2001:db8:20::/64" }),
      TypeError,
      /"subnet" must be IPv4/,
    );
    await rejects(
      newNetwork("overlay", "ov", { ...OK, subnetIPv6: "203.0.113.0/24" }),
      TypeError,
      /"subnetIPv6" must be IPv6/,
    );
  });

  it("refuses unknown options, bad values and a bad store URL", async () => {
    await rejects(
      newNetwork("overlay", "ov", { ...OK, bridgeName: "br0" }),
      TypeError,
      /^Unknown overlay option "bridgeName": known options are subnet, gateway/,
    );
    await rejects(newNetwork("overlay", "ov", { ...OK, vni: 0 }), RangeError, /"vni" must be/);
    await rejects(
      newNetwork("overlay", "ov", { ...OK, vni: 16777216 }),
      RangeError,
      /"vni" must be an integer from 1 to 16777215/,
    );
    await rejects(newNetwork("overlay", "ov", { ...OK, ttl: 0.5 }), RangeError, /"ttl"/);
    await rejects(newNetwork("overlay", "ov", { ...OK, mtu: 10 }), RangeError, /MTU|mtu/);
    await rejects(
      newNetwork("overlay", "ov", { ...OK, advertise: "198.51.100" }),
      TypeError,
      /"advertise" must be an IP address/,
    );
    await rejects(
      newNetwork("overlay", "ov", { ...OK, store: "redis://x" }),
      TypeError,
      /Unknown store "redis:\/\/x"/,
    );
    await rejects(newNetwork("overlay", "bad name", OK), TypeError, /Invalid network name/);
  });

  it("a store is for overlay networks only", async () => {
    await rejects(
      newNetwork("bridge", "b", { store: STORE, subnet: "198.51.100.0/24" }),
      TypeError,
      /Option "store" is for networks that span hosts \("overlay"\)/,
    );
  });

  it("openNetwork with a store needs advertise", async () => {
    await rejects(openNetwork("ov", { store: STORE }), TypeError, /needs "advertise"/);
  });
});

describe("etcd client helpers", () => {
  it("parses etcd:// URLs with several members and default ports", () => {
    assert.deepEqual(parseEtcdUrl("etcd://198.51.100.1:2379,198.51.100.2,198.51.100.3:2479"), [
      "http://198.51.100.1:2379",
      "http://198.51.100.2:2379",
      "http://198.51.100.3:2479",
    ]);
    assert.deepEqual(parseEtcdUrl("http://[2001:db8::1]:2379"), ["http://[2001:db8::1]:2379"]);
    assert.throws(() => parseEtcdUrl("198.51.100.1:2379"), /Invalid etcd store/);
    assert.throws(() => parseEtcdUrl("etcd://"), /no member/);
  });

  it("computes prefix range ends like etcd's WithPrefix", () => {
    assert.equal(prefixEnd("/nslink/"), "/nslink0");
    assert.equal(prefixEnd("a"), "b");
  });

  it("names the store, the operation and each member when none answers", async () => {
    const c = new EtcdClient("etcd://127.0.0.1:1,127.0.0.1:2", { timeout: 500 });
    await assert.rejects(c.put("/k", "v"), (e: unknown) => {
      assert.ok(e instanceof EtcdError);
      assert.equal(e.unreachable, true);
      assert.equal(e.store, "etcd://127.0.0.1:1,127.0.0.1:2");
      assert.match(
        e.message,
        /^etcd "etcd:\/\/127\.0\.0\.1:1,127\.0\.0\.1:2": put "\/k": unreachable \(http:\/\/127\.0\.0\.1:1: .*; http:\/\/127\.0\.0\.1:2: .*\)$/,
      );
      return true;
    });
  });

  it("names an overlay network's keys and devices", () => {
    assert.equal(overlayKeys("ov1").config, "/nslink/ov/ov1/config");
    assert.equal(overlayKeys("ov1").ipam4, "/nslink/ov/ov1/ipam/4/");
    assert.deepEqual(overlayDevices(4096), { bridge: "nslov4096", vxlan: "nslvx4096" });
    assert.ok(overlayDevices(16777215).vxlan.length <= 15);
  });
});
