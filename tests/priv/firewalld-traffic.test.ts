/**
 * nslink networks on a host where firewalld runs (Debian's firewalld and a dbus-daemon started
 * inside the throw-away namespace by `_firewalld.ts`): with firewalld's default zone in place,
 * outbound masquerade, a published port and isolation between two networks all work, because
 * nslink binds its bridges to its own `nslink` zone (permanent and runtime); again after
 * `firewall-cmd --reload`. Out of the zone, firewalld rejects the containers' outbound traffic,
 * and `repairFirewall()` binds the bridge again. A deleted network's bridge leaves the zone. Checked with real traffic and independently with `firewall-cmd` and `nft`.
 *
 * Run through `scripts/in-netns.sh` only. Skips when firewalld or dbus is not installed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Firewalld } from "../../firewall/firewalld.ts";
import { newNetwork, repairFirewall } from "../../mod.ts";
import { exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  firewallCmd,
  type SandboxFirewalld,
  SKIP_FIREWALLD,
  startFirewalld,
} from "./_firewalld.ts";
import {
  cleanupNewVeths,
  namespaceAt,
  nsName,
  setUpNetworkTestFile,
  tempStateDir,
} from "./_network_helpers.ts";
import { BLOCKED, HOST4, OUT4, outside, probe, server, settled } from "./_traffic.ts";

const { prefix: P } = setUpNetworkTestFile();
const SKIP = SKIP_ROOT || SKIP_FIREWALLD;
let fw: SandboxFirewalld | undefined;

before(async () => {
  if (SKIP) return;
  fw = await startFirewalld();
});

after(async () => {
  await fw?.stop();
});

async function zoneOf(iface: string, permanent = false): Promise<string> {
  try {
    return await firewallCmd(
      fw!,
      ...(permanent ? ["--permanent"] : []),
      `--get-zone-of-interface=${iface}`,
    );
  } catch {
    return "";
  }
}

async function hasTable(family: string, name: string): Promise<boolean> {
  return (await exec(["nft", "list", "table", family, name])).code === 0;
}

describe("nslink under firewalld (real traffic)", { skip: SKIP }, () => {
  it(
    "masquerade, a published port and isolation work with the default zone, and after firewall-cmd --reload; delete unbinds",
    {
      timeout: 180_000,
    },
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        for (const key of ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"]) {
          const path = `/proc/sys/${key}`;
          if (!existsSync(path)) continue;
          const was = readFileSync(path, "utf8").trim();
          c.defer(`restore ${key}`, () => writeFileSync(path, was));
        }
        const zone = await firewallCmd(fw!, "--get-default-zone");
        assert.notEqual(zone, "nslink");
        assert.ok(await hasTable("inet", "firewalld"), "firewalld's table");
        const stateDir = tempStateDir();
        const out = `${P}o`;
        await outside(c, out, `${P}x`);
        c.link(`${P}ba`);
        c.link(`${P}bb`);
        const a = await newNetwork("bridge", `${P}a`, {
          stateDir,
          bridgeName: `${P}ba`,
          subnet: "198.51.100.0/25",
        });
        c.defer("delete a", () => a.delete());
        const b = await newNetwork("bridge", `${P}b`, {
          stateDir,
          bridgeName: `${P}bb`,
          subnet: "198.51.100.128/25",
        });
        c.defer("delete b", () => b.delete());
        c.defer("remove zone nslink", async () => {
          await using f = await Firewalld.connect();
          if (!f) return;
          await f.removeZone("nslink");
        });
        // Both bridges in nslink's zone, at runtime and permanently.
        for (const br of [`${P}ba`, `${P}bb`]) {
          assert.equal(await zoneOf(br), "nslink");
          assert.equal(await zoneOf(br, true), "nslink");
        }
        assert.equal(
          await firewallCmd(fw!, "--permanent", "--zone=nslink", "--get-target"),
          "ACCEPT",
        );

        const ns1 = await namespaceAt(c, `/run/netns/${P}c1`);
        for (
          const i of await a.link("c1", { namespace: ns1, ports: [{ hostPort: 8080, port: 80 }] })
        ) {
          await ns1.addInterface(i);
        }
        c.defer("unlink c1", () => a.unlink("c1"));
        const ns2 = await namespaceAt(c, `/run/netns/${P}c2`);
        const [if2] = await b.link("c2", { namespace: ns2 });
        await ns2.addInterface(if2);
        c.defer("unlink c2", () => b.unlink("c2"));
        const c2addr = b.endpoint("c2")!.interfaces[0].address!.replace(/\/\d+$/, "");
        await server(c, nsName(ns1.path), "c1");
        await server(c, nsName(ns2.path), "c2");
        await server(c, out, "out");

        const check = async (when: string) => {
          // Published port, from outside: the container sees the client.
          assert.equal(
            await settled(`c1 from=${OUT4}`, [out, "tcp", HOST4, 8080]),
            `c1 from=${OUT4}`,
            `published port ${when}`,
          );
          // Outbound, masqueraded behind the host's address.
          assert.equal(
            await settled(`out from=${HOST4}`, [nsName(ns1.path), "tcp", OUT4, 80]),
            `out from=${HOST4}`,
            `outbound ${when}`,
          );
          // Isolation: c1 cannot reach c2 on the other network.
          assert.match(
            await probe(nsName(ns1.path), "tcp", c2addr, 80),
            BLOCKED,
            `isolation ${when}`,
          );
        };
        await check("with firewalld");

        const before = (await exec(["nft", "list", "table", "inet", "nslink"])).stdout;
        await firewallCmd(fw!, "--reload");
        // firewalld's reload leaves nslink's table alone (it replaces only its own).
        assert.equal((await exec(["nft", "list", "table", "inet", "nslink"])).stdout, before);
        for (const br of [`${P}ba`, `${P}bb`]) assert.equal(await zoneOf(br), "nslink");
        await check("after firewall-cmd --reload");

        // Out of the zone (firewalld's default zone then), firewalld rejects outbound traffic;
        // repairFirewall() (`nslink network reload`) puts the bridge back.
        await firewallCmd(fw!, "--zone=nslink", `--remove-interface=${P}ba`);
        assert.equal(await zoneOf(`${P}ba`), "");
        assert.match(await probe(nsName(ns1.path), "tcp", OUT4, 80), BLOCKED);
        await repairFirewall({ stateDir });
        assert.equal(await zoneOf(`${P}ba`), "nslink");
        await check("after repairFirewall()");

        // Deleting a network takes its bridge out of the zone, both ways.
        await b.unlink("c2");
        await b.delete();
        assert.equal(await zoneOf(`${P}bb`, true), "");
        assert.equal(await zoneOf(`${P}ba`, true), "nslink");
      });
    },
  );
});
