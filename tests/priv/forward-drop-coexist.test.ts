/**
 * The README's "Another firewall drops forwarded traffic", with real traffic: a host table with a
 * forward chain whose policy is drop (a host's own nftables.conf; iptables-nft's
 * `iptables -P FORWARD DROP`) stops a container's outbound traffic and its published port,
 * nslink reports it, and the README's rules make both work again while nslink's isolation
 * between networks still holds.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { forwardDropChains, newNetwork } from "../../mod.ts";
import { exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  cleanupNewVeths,
  namespaceAt,
  nsName,
  setUpNetworkTestFile,
  tempStateDir,
} from "./_network_helpers.ts";
import { BLOCKED, HOST4, OUT4, outside, probe, server, settled } from "./_traffic.ts";

const { prefix: P } = setUpNetworkTestFile();

async function run(...argv: string[]): Promise<void> {
  const r = await exec(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

const HAS_IPTABLES = existsSync("/usr/sbin/iptables");

describe("another table's forward drop and the README's rules to coexist", () => {
  it(
    "nft: policy drop blocks outbound and published ports; the README's three rules open them; isolation holds",
    {
      skip: SKIP_ROOT,
      timeout: 120_000,
    },
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        for (const key of ["net/ipv4/ip_forward"]) {
          const path = `/proc/sys/${key}`;
          const was = readFileSync(path, "utf8").trim();
          c.defer(`restore ${key}`, () => writeFileSync(path, was));
        }
        const stateDir = tempStateDir();
        const out = `${P}o`;
        await outside(c, out, `${P}x`);
        // Bridge names as nslink's default (nsl-NAME) would match the README's "nsl-*".
        const brA = `nsl-${P}a`;
        const brB = `nsl-${P}b`;
        c.link(brA);
        c.link(brB);
        const a = await newNetwork("bridge", `${P}a`, {
          stateDir,
          bridgeName: brA,
          subnet: "198.51.100.0/25",
        });
        c.defer("delete a", () => a.delete());
        const b = await newNetwork("bridge", `${P}b`, {
          stateDir,
          bridgeName: brB,
          subnet: "198.51.100.128/25",
        });
        c.defer("delete b", () => b.delete());
        const ns1 = await namespaceAt(c, `/run/netns/${P}c1`);
        const ifs = await a.link("c1", { namespace: ns1, ports: [{ hostPort: 8080, port: 80 }] });
        for (const i of ifs) await ns1.addInterface(i);
        c.defer("unlink c1", () => a.unlink("c1"));
        const ns2 = await namespaceAt(c, `/run/netns/${P}c2`);
        for (const i of await b.link("c2", { namespace: ns2 })) await ns2.addInterface(i);
        c.defer("unlink c2", () => b.unlink("c2"));
        const c2addr = b.endpoint("c2")!.interfaces[0].address!.replace(/\/\d+$/, "");
        const c1 = nsName(ns1.path);
        await server(c, c1, "c1");
        await server(c, nsName(ns2.path), "c2");
        await server(c, out, "out");
        const inbound = `c1 from=${OUT4}`;
        const outbound = `out from=${HOST4}`;
        assert.equal(await settled(inbound, [out, "tcp", HOST4, 8080]), inbound);
        assert.equal(await settled(outbound, [c1, "tcp", OUT4, 80]), outbound);

        // The host's own table: forward policy drop.
        const T = `${P}f`;
        c.defer("delete the host table", async () => {
          await exec(["nft", "delete", "table", "inet", T]);
        });
        await run("nft", "add", "table", "inet", T);
        await run(
          "nft",
          "add",
          "chain",
          "inet",
          T,
          "forward",
          "{ type filter hook forward priority 0; policy drop; }",
        );
        assert.deepEqual(forwardDropChains(), [`table inet ${T} chain forward`]);
        assert.match(await probe(out, "tcp", HOST4, 8080), BLOCKED);
        assert.match(await probe(c1, "tcp", OUT4, 80), BLOCKED);

        // The README's rules.
        const rule = (text: string) => run("nft", "insert", "rule", "inet", T, ...text.split(" "));
        await rule("forward iifname nsl-* accept");
        await rule("forward oifname nsl-* ct state established,related accept");
        await rule("forward oifname nsl-* ct status dnat accept");
        assert.equal(await settled(inbound, [out, "tcp", HOST4, 8080]), inbound);
        assert.equal(await settled(outbound, [c1, "tcp", OUT4, 80]), outbound);
        // nslink's table still isolates the networks.
        assert.match(await probe(c1, "tcp", c2addr, 80), BLOCKED);
        await run("nft", "delete", "table", "inet", T);

        // iptables-nft, as Docker leaves a host: FORWARD DROP, DOCKER-USER consulted first.
        if (HAS_IPTABLES) {
          c.defer("iptables back", async () => {
            await exec(["nft", "delete", "table", "ip", "filter"]);
          });
          await run("iptables", "-N", "DOCKER-USER");
          await run("iptables", "-A", "FORWARD", "-j", "DOCKER-USER");
          await run("iptables", "-A", "DOCKER-USER", "-j", "RETURN");
          await run("iptables", "-P", "FORWARD", "DROP");
          assert.deepEqual(forwardDropChains(), ["table ip filter chain FORWARD"]);
          assert.match(await probe(c1, "tcp", OUT4, 80), BLOCKED);
          assert.match(await probe(out, "tcp", HOST4, 8080), BLOCKED);
          await run("iptables", "-I", "DOCKER-USER", "-i", brA, "-j", "ACCEPT");
          const ipt =
            "-I DOCKER-USER -o BR -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT";
          await run("iptables", ...ipt.replace("BR", brA).split(" "));
          assert.equal(await settled(inbound, [out, "tcp", HOST4, 8080]), inbound);
          assert.equal(await settled(outbound, [c1, "tcp", OUT4, 80]), outbound);
          assert.match(await probe(c1, "tcp", c2addr, 80), BLOCKED);
          await run("nft", "delete", "table", "ip", "filter");
        }
        assert.deepEqual(forwardDropChains(), []);
      });
    },
  );
});
