/**
 * Privileged tests of the macvlan/ipvlan drivers for what issue 20 left: a container whose
 * namespace file was removed while a process kept the namespace alive (a "zombie" namespace:
 * its macvlan, with its LAN address, lives on), and the default route of ipvlan l3 containers.
 * Same simulated LAN as lan.test.ts (`_lan.ts`). Kernel state is checked with `ip -j`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { gc, newNetwork } from "../../mod.ts";
import { kernelLacks } from "../../drivers/lan.ts";
import { lanNames } from "./_lan.ts";
import {
  exec,
  ipJson,
  type IpLink,
  type IpRoute,
  linkKindSkip,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";
import { namespaceAt, setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };
const { LAN, lan, sh } = lanNames(P);
const ipvlanSkip = SKIP_ROOT || ((await linkKindSkip("ipvlan", P)) && kernelLacks("ipvlan"));

describe("macvlan: a namespace kept alive after its file is gone", () => {
  it(
    "gc leaves its endpoint alone; unlink removes its link there before freeing its address",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const stateDir = tempStateDir();
        const net = await newNetwork("macvlan", `${P}z`, { stateDir, ...LAN });
        c.defer("network.delete()", () => net.delete());
        const path = `/run/netns/${P}z1`;
        const ns = await namespaceAt(c, path);
        const [iface] = await net.link("z1", { namespace: ns });
        await ns.addInterface(iface);
        // A process of the container outlives the namespace's file (as a runtime that removed
        // the file while the container still ran would leave it).
        const holder = spawn("nsenter", [`--net=${path}`, "sleep", "600"], { stdio: "ignore" });
        c.defer("kill the holder", () => {
          holder.kill("SIGKILL");
        });
        const pid = holder.pid!;
        // Once the holder is inside (nsenter has switched): the same namespace inode.
        await sh(
          "timeout",
          "10",
          "sh",
          "-c",
          `until [ "$(stat -L -c %i /proc/${pid}/ns/net)" = "$(stat -L -c %i ${path})" ]; do sleep 0.05; done`,
        );
        await sh("umount", "-l", path);
        await sh("rm", path);
        const links = async () =>
          JSON.parse(
            (await exec(["nsenter", `--net=/proc/${pid}/ns/net`, "ip", "-j", "link", "show"]))
              .stdout,
          ) as IpLink[];
        const macvlans = async () => (await links()).filter((l) => l.ifname === iface.dstName);
        assert.equal((await macvlans()).length, 1, "the container's macvlan lives on");

        // gc: the endpoint's link is alive (in a namespace without a file): not garbage.
        const report = await gc({ stateDir, dryRun: true });
        assert.deepEqual(report.endpoints, [], JSON.stringify(report));
        assert.deepEqual(report.addresses, [], JSON.stringify(report));

        // unlink: its link goes (from the namespace the process keeps), then its address is free.
        await net.unlink("z1");
        assert.deepEqual(await macvlans(), [], "unlink left the macvlan holding the LAN address");
        assert.deepEqual(net.endpoints(), []);
      });
    },
  );
});

describe("ipvlan l3 (where the kernel has ipvlan)", () => {
  it("the container gets a default route through its device, as Docker's ipvlan l3 does", {
    ...OPTS,
    skip: ipvlanSkip,
  }, async () => {
    await withCleanup(async (c) => {
      await lan(c);
      const stateDir = tempStateDir();
      const net = await newNetwork("ipvlan", `${P}l3`, {
        stateDir,
        ...LAN,
        mode: "l3",
      });
      c.defer("network.delete()", () => net.delete());
      const ns = await namespaceAt(c, `/run/netns/${P}l31`);
      const [iface] = await net.link("l31", { namespace: ns });
      await ns.addInterface(iface);
      for (const family of ["-4", "-6"]) {
        const routes = await ipJson<IpRoute[]>(["-n", `${P}l31`, family, "route", "show"]);
        const def = routes.find((r) => r.dst === "default");
        assert.ok(def, `no ${family} default route: ${JSON.stringify(routes)}`);
        assert.equal(def.dev, iface.dstName);
        assert.equal(def.gateway, undefined);
      }
      await net.unlink("l31");
    });
  });
});
