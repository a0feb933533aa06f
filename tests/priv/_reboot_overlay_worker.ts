/**
 * Helper process for reboot-overlay.test.ts (not a test itself): one "boot" of a host with an
 * overlay network, run as reboot.test.ts runs `_reboot_worker.ts` (a new network and mount
 * namespace, a fresh /run, the same /var/lib/nslink, its own `NSLINK_BOOT_ID`). Each boot
 * starts etcd on the same data directory under /var/lib/nslink (the store outlives the
 * reboot) and an underlay bridge with the advertised address. Usage:
 * `_reboot_overlay_worker.ts PHASE PREFIX`; prints one JSON object (what it saw) on its last
 * line, and exits non-zero on any failure.
 *
 * Phases: `join` (the network made, c1 linked), `after` (listed; the first use joins again:
 * bridge and VXLAN made, c1's earlier claim released so c1 links again at the same address),
 * `clean` (the network deleted; nothing left).
 *
 * Run with `deno run -A` or `bun`, only as the test starts it.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import {
  bootId,
  listNetworks,
  type Network,
  newNetwork,
  newNetworkNamespace,
  openNetwork,
} from "../../mod.ts";
import { EtcdClient } from "../../store/etcd.ts";
import { overlayKeys } from "../../network/overlay_host.ts";
import { type Cleanup, ip, sleep, withCleanup } from "./_helpers.ts";
import { endBoot } from "./_reboot.ts";

const [phase, P] = process.argv.slice(2);
const NAME = "ovr";
const ADDR = "198.51.100.1";
const URL = `http://${ADDR}:2379`;
const DATA = "/var/lib/nslink/etcd-reboot-overlay";
const DEF = `/var/lib/nslink/networks/${NAME}.json`;

async function etcd(c: Cleanup): Promise<void> {
  assert.equal((await ip(["link", "add", "u0", "type", "bridge"])).code, 0);
  assert.equal((await ip(["link", "set", "u0", "up"])).code, 0);
  assert.equal((await ip(["addr", "add", `${ADDR}/24`, "dev", "u0"])).code, 0);
  const p: ChildProcess = spawn("etcd", [
    "--data-dir",
    DATA,
    "--listen-client-urls",
    URL,
    "--advertise-client-urls",
    URL,
    "--listen-peer-urls",
    `http://${ADDR}:2380`,
    "--initial-advertise-peer-urls",
    `http://${ADDR}:2380`,
    "--initial-cluster",
    `default=http://${ADDR}:2380`,
    "--log-level",
    "error",
  ], { stdio: ["ignore", "ignore", "ignore"] });
  c.defer("etcd", async () => {
    p.kill("SIGTERM");
    await new Promise((r) => p.once("exit", r));
  });
  for (let i = 0;; i++) {
    try {
      await client.range("x");
      return;
    } catch (e) {
      if (i > 100) throw e;
      await sleep(100);
    }
  }
}

const client = new EtcdClient(`etcd://${ADDR}:2379`);

/** This network's endpoint records in the store. */
async function storeEndpoints(): Promise<string[]> {
  const prefix = overlayKeys(NAME).endpoints;
  const r = await client.range(prefix, { prefix: true });
  return r.kvs.map((kv) => kv.key.slice(prefix.length)).sort();
}

async function linkIn(c: Cleanup, net: Network, ep: string): Promise<string> {
  const ns = await newNetworkNamespace(`/run/netns/${P}${ep}`);
  c.defer(`ns ${ep}`, () => ns.delete());
  const [i] = await net.link(ep, { namespace: ns });
  await ns.addInterface(i);
  return i.address;
}

async function links(): Promise<string[]> {
  const r = await ip(["-j", "link", "show"]);
  return (JSON.parse(r.stdout || "[]") as { ifname: string }[]).map((l) => l.ifname)
    .filter((n) => n.startsWith("nslov") || n.startsWith("nslvx")).sort();
}

const seen: Record<string, unknown> = { boot: bootId() };
await withCleanup(async (c) => {
  await etcd(c);
  if (phase === "join") {
    const net = await newNetwork("overlay", NAME, {
      subnet: "203.0.113.64/28",
      store: `etcd://${ADDR}:2379`,
      advertise: ADDR,
    });
    seen.id = net.id;
    seen.c1 = await linkIn(c, net, "c1");
    seen.endpoints = await storeEndpoints();
    seen.list = listNetworks();
    seen.def = JSON.parse(readFileSync(DEF, "utf8"));
    seen.links = await links();
  } else if (phase === "after") {
    seen.list = listNetworks();
    seen.linksBefore = await links();
    const net = await openNetwork(NAME);
    seen.id = net.id;
    seen.links = await links();
    seen.endpoints = await storeEndpoints();
    seen.c1 = await linkIn(c, net, "c1");
    await net.unlink("c1");
  } else if (phase === "clean") {
    const net = await openNetwork(NAME);
    await net.delete();
    seen.list = listNetworks();
    seen.def = existsSync(DEF);
    seen.links = await links();
  } else throw new Error(`unknown phase ${phase}`);
});
endBoot(seen);
