/**
 * The configurations in docs/cni.md are what the plugin reads: every JSON block parses, and each
 * `nslink` entry of a conflist passes the plugin's configuration parser (as the runtime hands it
 * over: the list's `cniVersion` and `name` added). The bridge-plugin table names every key the
 * parser knows.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseConf } from "../../cni/config.ts";

const DOC = readFileSync(new URL("../../docs/cni.md", import.meta.url).pathname, "utf8");

function blocks(lang: string): string[] {
  return [...DOC.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
}

describe("docs/cni.md", () => {
  it("every conflist's nslink entry is accepted by the plugin", () => {
    const lists = blocks("json").map((b) => JSON.parse(b));
    assert.ok(lists.length >= 2);
    for (const list of lists) {
      const entries = (list.plugins as Record<string, unknown>[]).filter((p) =>
        p.type === "nslink"
      );
      assert.equal(entries.length, 1);
      const conf = parseConf(
        { cniVersion: list.cniVersion, name: list.name, ...entries[0] } as never,
      );
      assert.equal(conf.network, "blue");
      assert.equal(conf.networkOptions.subnet, "198.51.100.0/24");
      assert.equal(conf.networkOptions.subnetIPv6, "2001:db8:1::/64");
      assert.equal(conf.networkOptions.bridgeName, "nsl-blue");
    }
  });

  it("the table lists the bridge plugin keys the parser handles", () => {
    for (
      const key of [
        "ipMasq",
        "isGateway",
        "isDefaultGateway",
        "hairpinMode",
        "mtu",
        "bridge",
        "ipam.type",
        "ipam.ranges",
        "rangeStart",
        "rangeEnd",
        "ipam.routes",
        "promiscMode",
        "vlan",
      ]
    ) {
      assert.match(DOC, new RegExp(`\\| .*\`${key.replace(".", "\\.")}\``), key);
    }
  });
});
