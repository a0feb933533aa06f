/**
 * `Namespace.addInterface` refuses a malformed interface before touching the kernel, the same
 * way every time: its address checks skip the bigint parse and remember gateways by text
 * (issue 21), and neither may let a bad value through on a second call.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Interface, newNetworkNamespace } from "../../mod.ts";
import { ipLinks, runId, SKIP_ROOT, withCleanup } from "./_helpers.ts";

const OPTS = { skip: SKIP_ROOT, timeout: 30_000 };
const P = `nsc${runId()}`;

const good: Interface = {
  srcName: "",
  dstName: "eth0",
  macAddress: "",
  address: "198.51.100.2/24",
  addressIPv6: "2001:db8:7::2/64",
  gateway: "198.51.100.1",
  gatewayIPv6: "2001:db8:7::1",
  mtu: 1500,
};

describe("addInterface: malformed interfaces refused before any request", () => {
  it(
    "bad addresses and gateways, twice each, with a good gateway seen in between",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        c.netns(`${P}a`);
        const ns = await newNetworkNamespace(`/run/netns/${P}a`);
        c.defer("namespace", () => ns.delete());
        const bad: [Partial<Interface>, RegExp][] = [
          [{ address: "2001:db8:7::2/64" }, /must be IPv4/],
          [{ addressIPv6: "198.51.100.2/24" }, /must be IPv6/],
          [{ address: "198.51.100.2/33" }, /Invalid CIDR/],
          [{ address: "198.51.100.2" }, /Invalid CIDR/],
          [{ addressIPv6: "2001:db8:7::2/129" }, /Invalid CIDR/],
          [{ gateway: "2001:db8:7::1" }, /must be IPv4/],
          [{ gatewayIPv6: "198.51.100.1" }, /must be IPv6/],
          [{ gateway: "198.51.100.300" }, /Invalid IP address/],
          [{ gatewayIPv6: "2001:db8:7::1::" }, /Invalid IP address/],
        ];
        for (let round = 0; round < 2; round++) {
          for (const [change, message] of bad) {
            await assert.rejects(ns.addInterface({ ...good, ...change }), message);
          }
        }
        // Nothing was made or moved: the namespace holds only lo.
        const links = await ipLinks(`${P}a`);
        assert.deepEqual(links.map((l) => l.ifname), ["lo"]);
      });
    },
  );
});
