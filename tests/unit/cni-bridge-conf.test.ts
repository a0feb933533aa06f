/**
 * The CNI plugin reads the reference bridge plugin's configuration keys with their meaning, and
 * refuses (code 2, "unsupported field", naming the key) what nslink cannot do, instead of
 * ignoring it (an `ipam` block was silently replaced by an automatic subnet before).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConf } from "../../cni/config.ts";
import { CniError } from "../../cni/errors.ts";

const BASE = { cniVersion: "1.0.0", name: "tnet", type: "nslink" };

function refused(extra: Record<string, unknown>, code: number, field: string): void {
  assert.throws(
    () => parseConf({ ...BASE, ...extra }),
    (e: unknown) => {
      assert.ok(e instanceof CniError, String(e));
      assert.equal(e.code, code, e.message);
      assert.ok(e.message.includes(`"${field}"`), `${e.message} names ${field}`);
      assert.equal(e.message.split("\n").length, 1);
      return true;
    },
  );
}

describe("bridge-plugin configuration keys", () => {
  it("maps podman's bridge conflist entry (host-local ranges, routes, ipMasq, isGateway)", () => {
    const conf = parseConf({
      ...BASE,
      bridge: "cni-podman1",
      isGateway: true,
      ipMasq: true,
      hairpinMode: true,
      mtu: 1450,
      ipam: {
        type: "host-local",
        routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
        ranges: [
          [{ subnet: "198.51.100.0/24", gateway: "198.51.100.1" }],
          [{
            subnet: "2001:db8:5::/64",
            rangeStart: "2001:db8:5::100",
            rangeEnd: "2001:db8:5::1ff",
          }],
        ],
      },
    });
    assert.deepEqual(conf.networkOptions, {
      bridgeName: "cni-podman1",
      masquerade: true,
      mtu: 1450,
      subnet: "198.51.100.0/24",
      gateway: "198.51.100.1",
      subnetIPv6: "2001:db8:5::/64",
      ipRangeIPv6: "2001:db8:5::100-2001:db8:5::1ff",
    });
  });

  it("maps the older flat ipam form and ipMasq: false; IPv6-only ranges turn IPv4 off", () => {
    assert.deepEqual(
      parseConf({
        ...BASE,
        ipMasq: false,
        isDefaultGateway: true,
        ipam: {
          type: "host-local",
          subnet: "203.0.113.0/24",
          rangeStart: "203.0.113.10",
          rangeEnd: "203.0.113.20",
          gateway: "203.0.113.254",
          dataDir: "/var/lib/cni/networks",
        },
      }).networkOptions,
      {
        masquerade: false,
        subnet: "203.0.113.0/24",
        gateway: "203.0.113.254",
        ipRange: "203.0.113.10-203.0.113.20",
      },
    );
    assert.deepEqual(
      parseConf({
        ...BASE,
        ipam: { type: "host-local", ranges: [[{ subnet: "2001:db8:6::/64" }]] },
      }).networkOptions,
      { subnetIPv6: "2001:db8:6::/64", enableIPv4: false },
    );
  });

  it("refuses another ipam type with code 2 naming ipam.type (was silently replaced)", () => {
    refused({ ipam: { type: "dhcp" } }, 2, "ipam.type");
    refused({ ipam: { type: "static", addresses: [] } }, 2, "ipam.type");
    refused({ ipam: {} }, 2, "ipam.type");
  });

  it("refuses what nslink cannot do with code 2 naming the key", () => {
    refused({ isGateway: false }, 2, "isGateway");
    refused({ isDefaultGateway: false }, 2, "isDefaultGateway");
    refused({ hairpinMode: false }, 2, "hairpinMode");
    refused({ promiscMode: true }, 2, "promiscMode");
    refused({ vlan: 100 }, 2, "vlan");
    refused({ macspoofchk: true }, 2, "macspoofchk");
    refused({ ipMasqBackend: "iptables" }, 2, "ipMasqBackend");
    refused({ ipam: { type: "host-local", resolvConf: "/etc/resolv.conf" } }, 2, "ipam.resolvConf");
    refused(
      { ipam: { type: "host-local", routes: [{ dst: "203.0.113.0/24" }] } },
      2,
      "ipam.routes",
    );
    refused(
      {
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: "198.51.100.0/25" }, { subnet: "198.51.100.128/25" }]],
        },
      },
      2,
      "ipam.ranges[0]",
    );
    refused(
      {
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: "198.51.100.0/24" }], [{ subnet: "203.0.113.0/24" }]],
        },
      },
      2,
      "ipam.ranges",
    );
  });

  it("accepts the off values of bridge features nslink lacks, and ignores keys it does not know", () => {
    const conf = parseConf({
      ...BASE,
      promiscMode: false,
      vlan: 0,
      macspoofchk: false,
      someFutureKey: { x: 1 },
    });
    assert.deepEqual(conf.networkOptions, {});
  });

  it("refuses malformed values and contradictions with code 7", () => {
    refused({ ipMasq: "yes" }, 7, "ipMasq");
    refused({ ipMasq: true, masquerade: false }, 7, "ipMasq");
    refused({ ipam: "host-local" }, 7, "ipam");
    refused(
      { ipam: { type: "host-local", ranges: [[{ gateway: "198.51.100.1" }]] } },
      7,
      "ipam.ranges[0][0].subnet",
    );
    refused(
      { subnet: "198.51.100.0/24", ipam: { type: "host-local", subnet: "203.0.113.0/24" } },
      7,
      "subnet",
    );
  });
});
