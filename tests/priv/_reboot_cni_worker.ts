/**
 * Helper process for reboot-cni.test.ts (not a test itself): one "boot" of a host, run as
 * reboot.test.ts runs `_reboot_worker.ts` (a new network and mount namespace, a fresh /run, the
 * same /var/lib/nslink, its own `NSLINK_BOOT_ID`). Usage: `_reboot_cni_worker.ts PHASE PREFIX`;
 * prints one JSON object (what it saw) on its last line, and exits non-zero on any failure.
 *
 * Phases: `add` (CNI ADD makes network `cauto`), `del` (after the reboot: CNI ADD of another
 * container makes it again, then the last DEL removes it), `clean` (removes what is left).
 *
 * Run with `deno run -A` or `bun`, only as the test starts it.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { bootId, listNetworks, newNetworkNamespace, openNetwork } from "../../mod.ts";
import { captureOutput } from "../../cli/io.ts";
import { nslinkPlugin } from "../../cni/plugin.ts";
import { runCni } from "../../cni/skel.ts";
import { type Cleanup, ip, withCleanup } from "./_helpers.ts";
import { endBoot } from "./_reboot.ts";

const [phase, P] = process.argv.slice(2);
const NAME = "cauto";
const DEF = `/var/lib/nslink/networks/${NAME}.json`;
const CONF = JSON.stringify({
  cniVersion: "1.0.0",
  name: NAME,
  type: "nslink",
  subnet: "198.51.100.192/27",
});

async function cni(command: string, c: Cleanup, container: string): Promise<string> {
  if (command === "ADD") {
    const ns = await newNetworkNamespace(`/run/netns/${P}${container}`);
    c.defer(`ns ${container}`, () => ns.delete());
  }
  const io = captureOutput();
  const status = await runCni(
    {
      CNI_COMMAND: command,
      CNI_CONTAINERID: container,
      CNI_NETNS: `/run/netns/${P}${container}`,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
    },
    () => CONF,
    io,
    nslinkPlugin,
  );
  assert.equal(status, 0, `CNI ${command} ${container}: ${io.stdout}`);
  return io.stdout;
}

async function bridges(): Promise<string[]> {
  const r = await ip(["-j", "link", "show", "type", "bridge"]);
  return (JSON.parse(r.stdout || "[]") as { ifname: string }[]).map((l) => l.ifname).sort();
}

const seen: Record<string, unknown> = { boot: bootId() };
await withCleanup(async (c) => {
  if (phase === "add") {
    await cni("ADD", c, "a1");
    seen.list = listNetworks();
    seen.mark = JSON.parse(readFileSync(DEF, "utf8")).madeByCniAdd;
  } else if (phase === "del") {
    seen.listBefore = listNetworks();
    const added = JSON.parse(await cni("ADD", c, "a2")) as { ips: { address: string }[] };
    seen.a2 = added.ips[0].address;
    seen.bridgesWith = (await bridges()).length;
    await cni("DEL", c, "a2");
    seen.list = listNetworks();
    seen.bridges = await bridges();
    seen.definition = existsSync(DEF);
  } else if (phase === "clean") {
    if (listNetworks().includes(NAME)) await (await openNetwork(NAME)).delete();
    seen.list = listNetworks();
  } else throw new Error(`unknown phase ${phase}`);
});
endBoot(seen);
