/**
 * Helper process for reboot.test.ts (not a test itself): one "boot" of a host. The test runs it
 * in a new network namespace and mount namespace with a fresh tmpfs on /run (the runtime state
 * of the previous boot gone, its kernel objects too), the same definitions directory, and
 * `NSLINK_BOOT_ID` set to a new boot id. Usage: `_reboot_worker.ts PHASE PREFIX`; prints one
 * JSON object (what it saw) on its last line, and exits non-zero on any failure.
 *
 * Phases: `create` (three networks, containers linked, a published port working), `after`
 * (the first boot after: networks listed, linked again, port and firewall working), `keep1` /
 * `keep2` / `keep3` (a state directory that survives the reboot: stale records of an earlier
 * boot dropped by the first use, then by gc), `clean` (everything deleted).
 *
 * Run with `deno run -A` or `bun`, only as the test starts it.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import {
  bootId,
  gc,
  listNetworks,
  type Network,
  newNetwork,
  newNetworkNamespace,
  openNetwork,
} from "../../mod.ts";
import { connect } from "../../network/connect.ts";
import { captureOutput } from "../../cli/io.ts";
import { nslinkPlugin } from "../../cni/plugin.ts";
import { runCni } from "../../cni/skel.ts";
import { type Cleanup, exec, ip, withCleanup } from "./_helpers.ts";
import { HOST4, OUT4, outside, server, settled } from "./_traffic.ts";
import { nslinkArgv } from "./_cli_helpers.ts";
import { endBoot } from "./_reboot.ts";

const [phase, P] = process.argv.slice(2);
const WEB = { subnet: "198.51.100.0/26" };
const INT = { subnet: "198.51.100.64/26", internal: true };
const V6 = { subnet: "198.51.100.128/27", subnetIPv6: "2001:db8:5::/64" };
const CNI_SUBNET = "198.51.100.160/27";
const KEEP = { subnet: "198.51.100.224/27" };
const KEEP_STATE = "/var/lib/nslink/keep-state";
const KEEP_CONFIG = "/var/lib/nslink/keep-config";

async function nsAt(c: Cleanup, name: string) {
  const ns = await newNetworkNamespace(`/run/netns/${name}`);
  c.defer(`ns ${name}`, () => ns.delete());
  return ns;
}

async function linkIn(c: Cleanup, net: Network, ep: string, ports?: number[]) {
  const ns = await nsAt(c, `${P}${ep}`);
  const ifaces = await net.link(ep, {
    namespace: ns,
    ...(ports ? { ports: ports.map((p) => ({ hostPort: p, port: 80 })) } : {}),
  });
  for (const i of ifaces) await ns.addInterface(i);
  return ifaces[0];
}

async function nslinkTable(): Promise<{ chains: string[]; pub4: string[] } | undefined> {
  const r = await exec(["nft", "-j", "list", "table", "inet", "nslink"]);
  if (r.code !== 0) return undefined;
  const items = (JSON.parse(r.stdout) as { nftables: Record<string, unknown>[] }).nftables;
  const chains = items.flatMap((x) => x.chain ? [(x.chain as { name: string }).name] : []);
  const pub4 = items.flatMap((x) => {
    const m = x.map as { name: string; elem?: unknown[] } | undefined;
    return m?.name === "pub4" ? (m.elem ?? []).map((e) => JSON.stringify(e)) : [];
  });
  return { chains: chains.sort(), pub4 };
}

async function bridges(): Promise<string[]> {
  const r = await ip(["-j", "link", "show", "type", "bridge"]);
  return (JSON.parse(r.stdout || "[]") as { ifname: string }[]).map((l) => l.ifname).sort();
}

async function cli(...args: string[]): Promise<string> {
  // cli/main.ts on this runtime, or the compiled dist/nslink with NSLINK_BIN.
  const r = await exec([...nslinkArgv(), ...args]);
  assert.equal(r.code, 0, `nslink ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** A published port reaches a probe server in the container, from an outside namespace. */
async function portWorks(c: Cleanup, ep: string, port: number): Promise<string> {
  await server(c, `${P}${ep}`, ep);
  return await settled(`${ep} from=${OUT4}`, [`${P}out`, "tcp", HOST4, port], 10_000);
}

/** CNI ADD of a container (a namespace made here) to network `cnet`, in this process. */
async function cniAdd(c: Cleanup, container: string): Promise<string> {
  await nsAt(c, `${P}${container}`);
  const io = captureOutput();
  const status = await runCni(
    {
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: container,
      CNI_NETNS: `/run/netns/${P}${container}`,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
    },
    () => JSON.stringify({ cniVersion: "1.0.0", name: "cnet", type: "nslink", subnet: CNI_SUBNET }),
    io,
    nslinkPlugin,
  );
  assert.equal(status, 0, `CNI ADD ${container}: ${io.stdout}`);
  return (JSON.parse(io.stdout) as { ips: { address: string }[] }).ips[0].address;
}

const seen: Record<string, unknown> = { boot: bootId() };
await withCleanup(async (c) => {
  if (phase === "create") {
    await outside(c, `${P}out`, `${P}x`);
    const web = await newNetwork("bridge", "web", WEB);
    const int = await newNetwork("bridge", "int", INT);
    const v6 = await newNetwork("bridge", "v6", V6);
    seen.ids = { web: web.id, int: int.id, v6: v6.id };
    seen.c1 = (await linkIn(c, web, "c1", [8080])).address;
    seen.c2 = (await linkIn(c, int, "c2")).address;
    seen.c3 = (await linkIn(c, v6, "c3")).addressIPv6;
    seen.c5 = await cniAdd(c, "c5"); // CNI ADD makes network cnet
    seen.port = await portWorks(c, "c1", 8080);
    seen.list = listNetworks();
    // The runtime records (in /run) name the boot they were written in.
    const netRecord = JSON.parse(readFileSync("/run/nslink/networks/web.json", "utf8"));
    const epRecord = JSON.parse(readFileSync(`/run/nslink/ep.${web.id}/c1.json`, "utf8"));
    seen.recordBoots = [netRecord.boot, epRecord.boot];
    // No unlink, no delete: the "reboot" (this namespace dying) takes it all.
  } else if (phase === "after") {
    seen.list = listNetworks();
    seen.ls = (JSON.parse(await cli("network", "ls", "--format", "json")) as { Name: string }[])
      .map((r) => r.Name);
    seen.bridgesBefore = await bridges();
    seen.tableBefore = await nslinkTable();
    await outside(c, `${P}out`, `${P}x`);
    const web = await openNetwork("web"); // the first use makes it again
    seen.ids = { web: web.id };
    seen.c1 = (await linkIn(c, web, "c1", [8080])).address;
    // connect (the command line's and the CNI plugin's path) on the internal network.
    await nsAt(c, `${P}c2`);
    seen.c2 = (await connect("int", "c2", `/run/netns/${P}c2`))[0].address;
    // newNetwork with the same options, as Podman's create-or-reuse does.
    const v6 = await newNetwork("bridge", "v6", V6);
    seen.c3 = (await linkIn(c, v6, "c3")).addressIPv6;
    seen.c5 = await cniAdd(c, "c5"); // CNI ADD: the first use of cnet
    seen.ids = { web: web.id, int: (await openNetwork("int")).id, v6: v6.id };
    seen.port = await portWorks(c, "c1", 8080);
    seen.table = await nslinkTable();
    seen.bridgesAfter = (await bridges()).length;
    // Other options under a defined name: refused, as before the reboot.
    seen.otherOptions = await newNetwork("bridge", "web", { subnet: "198.51.100.192/27" })
      .then(() => "created", (e: Error) => e.message);
  } else if (phase === "keep1") {
    const keep = await newNetwork("bridge", "keep", {
      ...KEEP,
      stateDir: KEEP_STATE,
      configDir: KEEP_CONFIG,
    });
    seen.c4 = (await linkIn(c, keep, "c4", [8081])).address;
  } else if (phase === "keep2") {
    const opts = { stateDir: KEEP_STATE, configDir: KEEP_CONFIG };
    const dry = await gc({ ...opts, dryRun: true });
    seen.dry = { networks: dry.networks, endpoints: dry.endpoints };
    seen.list = listNetworks(opts);
    await outside(c, `${P}out`, `${P}x`);
    const keep = await openNetwork("keep", opts);
    seen.c4 = (await linkIn(c, keep, "c4", [8081])).address;
    seen.port = await portWorks(c, "c4", 8081);
    seen.endpoints = keep.endpoints();
  } else if (phase === "keep3") {
    const opts = { stateDir: KEEP_STATE, configDir: KEEP_CONFIG };
    const report = await gc(opts);
    seen.gc = { networks: report.networks, endpoints: report.endpoints, errors: report.errors };
    seen.state = readdirSync(KEEP_STATE).filter((k) => /^(ep|ip|ports)\./.test(k)).sort();
    seen.list = listNetworks(opts);
    await (await openNetwork("keep", opts)).delete();
    seen.listAfterRm = listNetworks(opts);
  } else if (phase === "clean") {
    seen.rm = (await cli("network", "rm", ...listNetworks())).trim().split("\n");
    seen.list = listNetworks();
    seen.bridges = await bridges();
    seen.table = await nslinkTable();
  } else throw new Error(`unknown phase ${phase}`);
});
endBoot(seen, ["/run/nslink", KEEP_STATE]);
