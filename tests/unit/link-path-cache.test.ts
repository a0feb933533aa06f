/**
 * The link path's per-process caches and shortcuts (issue 21) give the answers of the code they
 * replace: pool layouts parsed once per pool text, the namespace resolv.conf path without
 * node:path, and Deno's env permission asked once per variable.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { basename, dirname, join } from "node:path";
import { allocate, createPool, setPoolRange } from "../../model/ipam.ts";
import { netnsResolvConf } from "../../network/dns_hooks.ts";
import { readEnv } from "../../network/state.ts";
import { ip } from "../../rtnl/messages/types.ts";

describe("link path caches", () => {
  it("pools of one subnet with other gateways or ranges keep their own layout", () => {
    const a = createPool("198.51.100.0/24", "198.51.100.1");
    const b = createPool("198.51.100.0/24", "198.51.100.254");
    assert.equal(allocate(a, "c1", "198.51.100.254"), "198.51.100.254/24");
    assert.throws(() => allocate(b, "c1", "198.51.100.254"), RangeError);
    assert.throws(() => allocate(a, "c2", "198.51.100.1"), RangeError);
    assert.equal(allocate(b, "c2", "198.51.100.1"), "198.51.100.1/24");
    const r = setPoolRange(createPool("198.51.100.0/24", "198.51.100.1"), "198.51.100.128/25");
    assert.equal(allocate(r, "c3"), "198.51.100.128/24");
    assert.equal(allocate(createPool("198.51.100.0/24", "198.51.100.1"), "c3"), "198.51.100.2/24");
    // Again, from the cache.
    const r2 = setPoolRange(createPool("198.51.100.0/24", "198.51.100.1"), "198.51.100.128/25");
    assert.equal(allocate(r2, "c4"), "198.51.100.128/24");
    assert.throws(() => allocate(createPool("198.51.100.0/24"), "c5", "203.0.113.9"), RangeError);
  });

  it("netnsResolvConf answers as the node:path version does", () => {
    const old = (p: string | undefined) =>
      !p || dirname(p) !== "/run/netns"
        ? undefined
        : join("/etc/netns", basename(p), "resolv.conf");
    for (
      const p of [
        "/run/netns/c1",
        "/run/netns/nsl-a.b_c",
        "/run/netns/.",
        "/run/netns/..",
        "/run/netns/",
        "/run/netns//c1",
        "/run/netns/a/b",
        "/run/netnsx/c1",
        "/tmp/ns",
        "",
        undefined,
      ]
    ) assert.equal(netnsResolvConf(p), old(p), String(p));
  });

  it("readEnv reads a variable again after it changed", () => {
    const name = "NSLINK_TEST_LINK_PATH_CACHE";
    process.env[name] = "one";
    assert.equal(readEnv(name), "one");
    process.env[name] = "two";
    assert.equal(readEnv(name), "two");
    delete process.env[name];
    assert.equal(readEnv(name), undefined);
  });

  it("the address encoder's cache gives the same bytes, keeps refusing bad ones", () => {
    const enc = (text: string) => {
      const b = new Uint8Array(20);
      const n = ip.encodeTo(b, new DataView(b.buffer), 2, text);
      return [...b.subarray(2, 2 + n)];
    };
    for (let k = 0; k < 3; k++) {
      assert.deepEqual(enc("198.51.100.1"), [198, 51, 100, 1]);
      assert.deepEqual(enc("2001:db8::1"), [0x20, 1, 0xd, 0xb8, ...Array(11).fill(0), 1]);
      assert.throws(() => enc("198.51.100.300"), TypeError);
      assert.throws(() => enc("2001:db8::1:"), TypeError);
    }
    // Writing into a message never changes what the cache gives next.
    const b = new Uint8Array(4);
    ip.encodeTo(b, new DataView(b.buffer), 0, "203.0.113.7");
    b.fill(0);
    assert.deepEqual(enc("203.0.113.7"), [203, 0, 113, 7]);
  });
});
