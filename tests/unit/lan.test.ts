/**
 * Unit tests of the macvlan/ipvlan drivers' input (no root): the CNI plugin's `driver`,
 * `master` and `mode` fields, the command's `--ip-range` and `-o` options, and the refusal text
 * for a link kind the kernel lacks.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseConf } from "../../cni/config.ts";
import { CniError } from "../../cni/errors.ts";
import { driverOptions } from "../../cli/network.ts";
import { kernelLacks } from "../../drivers/lan.ts";
import { getDriver, knownTypes } from "../../drivers/registry.ts";

const CONF = { cniVersion: "1.0.0", name: "lan", type: "nslink" };

describe("macvlan and ipvlan input", () => {
  it("CNI: driver macvlan/ipvlan with master and mode, as the reference plugins name them", () => {
    assert.deepEqual(
      parseConf({
        ...CONF,
        driver: "macvlan",
        master: "eth1",
        mode: "private",
        subnet: "198.51.100.0/24",
        gateway: "198.51.100.254",
        ipRange: "198.51.100.128/25",
        hostAccess: true,
      }),
      {
        network: "lan",
        driver: "macvlan",
        networkOptions: {
          subnet: "198.51.100.0/24",
          gateway: "198.51.100.254",
          parent: "eth1",
          mode: "private",
          ipRange: "198.51.100.128/25",
          hostAccess: true,
        },
      },
    );
    assert.equal(parseConf({ ...CONF, driver: "ipvlan", master: "eth1" }).driver, "ipvlan");
    // A bridge configuration ignores the LAN fields, as plugins ignore unknown fields.
    assert.deepEqual(parseConf({ ...CONF, master: "eth1", mode: "l2" }).networkOptions, {});
  });

  it("CNI: refuses an unknown driver and a non-string master with code 7", () => {
    for (const [field, value] of [["driver", "vxlan"], ["master", 7]] as const) {
      assert.throws(
        () => parseConf({ ...CONF, driver: "macvlan", [field]: value }),
        (e) => e instanceof CniError && e.code === 7 && e.message.includes(`"${field}"`),
      );
    }
  });

  it("command: -o parent=… -o macvlan_mode=… pass through as driver options", () => {
    assert.deepEqual(
      driverOptions(["parent=eth1.50", "macvlan_mode=bridge", "hostAccess=true"], "help"),
      { parent: "eth1.50", macvlan_mode: "bridge", hostAccess: true },
    );
  });

  it("both drivers are registered; the kernel refusal names the option", () => {
    assert.ok(knownTypes().includes("macvlan") && knownTypes().includes("ipvlan"));
    assert.equal(getDriver("ipvlan").type, "ipvlan");
    assert.equal(kernelLacks("ipvlan"), "the kernel has no ipvlan support (CONFIG_IPVLAN)");
    assert.equal(
      kernelLacks("vlan"),
      "the kernel has no 802.1q VLAN support (CONFIG_VLAN_8021Q)",
    );
  });
});
