/**
 * The system calls of one container's setup on the fast path, as a user writes it
 * (`network.link(name, { namespace })`, then `ns.addInterface()`), held to a budget (issue 21):
 * every one of them is paid per container. The outcome is checked independently (`ip -j`): the
 * port on its bridge, the container's address, hairpin mode only for a container that publishes
 * ports, and `gc()` still telling an untagged port that no record names.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gc, type Network } from "../../mod.ts";
import { type Cleanup, ip, ipAddrs, ipJson, ipLink, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  bridgeNetwork,
  cleanupNewVeths,
  namespaceAt,
  nsName,
  readRecord,
  setUpNetworkTestFile,
} from "./_network_helpers.ts";
import { agentOffForTests } from "./_agent_helpers.ts";
import { libcCalls } from "../unit/_libc_calls.ts";

const { prefix: P } = setUpNetworkTestFile();

/**
 * What a fast-path link and its configuration need, at most, with names on (the namespace's
 * resolv.conf) and one IPv4 address: the state lock (3), the releasing marks listed (4), the
 * intent record (4: an unnamed file written, then linked into place), the address claim (2),
 * the veth pair made inside the namespace (3), the final record (4), the resolv.conf (5: its
 * directory, then a whole file renamed into place); addInterface's one configuration batch (2:
 * sent, and its last request's ACK read). It was 33: the host end's alias and hairpin mode were
 * set in a request of their own after the create (2), the resolv.conf was looked for before its
 * directory was made (1), the intent went through a named temporary file, removed after the
 * link (1), and every request of a batch asked for an ACK of its own, each read apart (2).
 */
const BUDGET = 27;

interface DetailedLink {
  ifname: string;
  ifalias?: string;
  master?: string;
  linkinfo?: { info_slave_data?: { hairpin?: boolean } };
}

async function hostEnd(name: string): Promise<DetailedLink | undefined> {
  const links = await ipJson<DetailedLink[]>(["-d", "link", "show"]);
  return links.find((l) => l.ifname === name);
}

/**
 * Runs `body` with the host agent off, on a fresh bridge network (198.51.100.0/24) that is
 * deleted after it, new veths cleaned up.
 */
async function onBridge(
  name: string,
  bridge: string,
  body: (c: Cleanup, network: Network, stateDir: string) => Promise<void>,
): Promise<void> {
  const agentBack = agentOffForTests();
  try {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const { network, stateDir } = await bridgeNetwork(c, name, bridge, {
        subnet: "198.51.100.0/24",
      });
      await body(c, network, stateDir);
    });
  } finally {
    agentBack();
  }
}

describe("setup system calls", () => {
  it(`network.link() and ns.addInterface() of a fast-path container make at most ${BUDGET}`, {
    skip: SKIP_ROOT || (!existsSync("/etc/netns") && "no /etc/netns"),
    timeout: 60_000,
  }, async () => {
    await onBridge(`${P}-su`, `${P}br`, async (c, network) => {
      // The process's first link pays once for what later ones reuse (the bridge's index).
      const ns0 = await namespaceAt(c, `/run/netns/${P}w`);
      const [w] = await network.link("w", { namespace: ns0 });
      c.defer("unlink w", () => network.unlink("w"));
      await ns0.addInterface(w);

      const path = `/run/netns/${P}c0`;
      const ns = await namespaceAt(c, path);
      let iface = w;
      const calls = await libcCalls(async () => {
        [iface] = await network.link("c0", { namespace: ns });
        await ns.addInterface(iface);
      });
      c.defer("unlink c0", () => network.unlink("c0"));
      assert.ok(
        calls.length <= BUDGET,
        `${calls.length} system calls (budget ${BUDGET}): ${calls.join(" ")}`,
      );

      // The outcome, seen independently.
      const host = await hostEnd(`nslh${iface.srcName.slice(4)}`);
      assert.equal(host?.master, `${P}br`, "host end on the bridge");
      assert.notEqual(host?.linkinfo?.info_slave_data?.hairpin, true, "no hairpin without ports");
      const addrs = await ipAddrs(iface.dstName, nsName(path));
      assert.ok(
        addrs.some((a) => `${a.local}/${a.prefixlen}` === iface.address),
        `${iface.address} on ${iface.dstName}: ${JSON.stringify(addrs)}`,
      );
      const resolv = `/etc/netns/${nsName(path)}/resolv.conf`;
      assert.ok(existsSync(resolv), "resolv.conf written");
    });
  });

  it("puts a port in hairpin mode when its container publishes ports, at link() or later", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await onBridge(`${P}-hp`, `${P}hb`, async (c, network) => {
      const record = readRecord(network.stateDir, `${P}-hp`)!;
      const hairpin = async (srcName: string) =>
        (await hostEnd(`nslh${srcName.slice(4)}`))?.linkinfo?.info_slave_data?.hairpin;
      const alias = async (srcName: string) => (await hostEnd(`nslh${srcName.slice(4)}`))?.ifalias;

      const nsA = await namespaceAt(c, `/run/netns/${P}ha`);
      const [a] = await network.link("a", {
        namespace: nsA,
        ports: [{ hostPort: 18080, port: 80 }],
      });
      c.defer("unlink a", () => network.unlink("a"));
      assert.equal(await hairpin(a.srcName), true, "published at link()");
      assert.equal(await alias(a.srcName), `nslink:${record.id}:a`);

      const nsB = await namespaceAt(c, `/run/netns/${P}hb`);
      const [b] = await network.link("b", { namespace: nsB });
      c.defer("unlink b", () => network.unlink("b"));
      assert.equal(await hairpin(b.srcName), false, "no port");
      assert.equal(await alias(b.srcName), undefined, "no request after the create");
      await network.publish("b", [{ hostPort: 18081, port: 80 }]);
      assert.equal(await hairpin(b.srcName), true, "published later");
      assert.equal(await alias(b.srcName), `nslink:${record.id}:b`);

      const nsC = await namespaceAt(c, `/run/netns/${P}hc`);
      const [d] = await network.link("c", { namespace: nsC, hairpin: true });
      c.defer("unlink c", () => network.unlink("c"));
      assert.equal(await hairpin(d.srcName), true, "asked for");
    });
  });

  it("gc() deletes an untagged fast-path port no record names, and keeps recorded ones", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await onBridge(`${P}-gu`, `${P}gb`, async (c, network, stateDir) => {
      const record = readRecord(stateDir, `${P}-gu`)!;
      const nsK = await namespaceAt(c, `/run/netns/${P}gk`);
      const [kept] = await network.link("kept", { namespace: nsK });
      c.defer("unlink kept", () => network.unlink("kept"));
      const nsL = await namespaceAt(c, `/run/netns/${P}gl`);
      const [lost] = await network.link("lost", { namespace: nsL });
      c.defer("unlink lost", () => network.unlink("lost"));
      const lostHost = `nslh${lost.srcName.slice(4)}`;
      const keptHost = `nslh${kept.srcName.slice(4)}`;
      // Its record lost (removed by hand): nothing but its name says whose the port is.
      rmSync(join(stateDir, `ep.${record.id}`, "lost.json"));
      // Another state directory's untagged port, on a bridge this one does not know: left.
      const other = `nslh${"0".repeat(8)}`;
      const otherBr = `${P}ob`;
      c.link(other);
      c.link(otherBr);
      assert.equal((await ip(["link", "add", otherBr, "type", "bridge"])).code, 0);
      assert.equal(
        (await ip(["link", "add", other, "master", otherBr, "type", "veth", "peer", `${P}op`]))
          .code,
        0,
      );

      const report = await gc({ stateDir });
      assert.ok(
        report.links.includes(`${lostHost} (no endpoint record, on ${P}gb)`),
        JSON.stringify(report.links),
      );
      assert.equal(await ipLink(lostHost), undefined, "the lost record's port deleted");
      assert.ok(await ipLink(keptHost), "a recorded port kept");
      assert.ok(await ipLink(other), "another state directory's port kept");
    });
  });
});
