/**
 * Privileged tests of macvlan networks through the command (`nslink network create -d macvlan
 * -o parent=… -o macvlan_mode=…`, `network connect --ip`) and the CNI plugin (`"driver":
 * "macvlan"` with `master` and `mode`), on the simulated LAN of `_lan.ts`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ipJson, type IpLink, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { assertPing, setUpNetworkTestFile, stateFiles, tempStateDir } from "./_network_helpers.ts";
import { cni, nslink } from "./_cli_helpers.ts";
import { LANHOST6, lanNames, ROUTER, ROUTER6 } from "./_lan.ts";

const { prefix: P } = setUpNetworkTestFile();
const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };
const { UP, lan, sh } = lanNames(P);

async function macvlanLinks(): Promise<string[]> {
  return (await ipJson<IpLink[]>(["-d", "link", "show"])).filter((l) =>
    l.linkinfo?.info_kind === "macvlan"
  ).map((l) => l.ifname);
}

describe("macvlan through the command and the CNI plugin", () => {
  it(
    "nslink network create -d macvlan -o parent -o macvlan_mode --ip-range; connect --ip",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await lan(c);
        const state = tempStateDir();
        const net = `${P}cl`;
        const made = await nslink(
          state,
          "network",
          "create",
          "-d",
          "macvlan",
          "-o",
          `parent=${UP}`,
          "-o",
          "macvlan_mode=bridge",
          "--subnet",
          "198.51.100.0/24",
          "--gateway",
          ROUTER,
          "--ip-range",
          "198.51.100.128/25",
          "--ipv6",
          "--subnet",
          "2001:db8:30::/64",
          "--gateway",
          ROUTER6,
          net,
        );
        assert.equal(made.code, 0, made.stderr);
        c.defer("network rm", async () => void await nslink(state, "network", "rm", "-f", net));
        const ns = `${P}n1`;
        c.netns(ns);
        assert.equal((await nslink(state, "netns", "add", ns)).code, 0);
        const con = await nslink(
          state,
          "network",
          "connect",
          net,
          "c1",
          "--netns",
          ns,
          "--ip",
          "198.51.100.150",
        );
        assert.equal(con.code, 0, con.stderr);
        const [eth0] = await ipJson<{ addr_info: { local: string }[] }[]>([
          "-n",
          ns,
          "addr",
          "show",
          "dev",
          "eth0",
        ]);
        assert.ok(eth0.addr_info.some((a) => a.local === "198.51.100.150"), JSON.stringify(eth0));
        await assertPing(`/run/netns/${ns}`, ROUTER);
        await assertPing(`/run/netns/${ns}`, LANHOST6);
        // Another mode on the same parent is refused, naming it.
        const clash = await nslink(
          state,
          "network",
          "create",
          "-d",
          "macvlan",
          "-o",
          `parent=${UP}`,
          "-o",
          "macvlan_mode=private",
          "--subnet",
          "203.0.113.0/24",
          `${P}c2`,
        );
        assert.notEqual(clash.code, 0);
        assert.match(clash.stderr, new RegExp(`Parent "${UP}" is used by another nslink network`));
        // ipvlan_mode is an ipvlan option.
        const wrong = await nslink(
          state,
          "network",
          "create",
          "-d",
          "macvlan",
          "-o",
          `parent=${UP}`,
          "-o",
          "ipvlan_mode=l2",
          "--subnet",
          "203.0.113.0/24",
          `${P}c3`,
        );
        assert.match(wrong.stderr, /"ipvlan_mode" is for ipvlan networks/);
        assert.equal((await nslink(state, "network", "disconnect", net, "c1")).code, 0);
        assert.equal((await nslink(state, "network", "rm", net)).code, 0);
        assert.deepEqual(
          (await ipJson<IpLink[]>(["-n", ns, "link", "show"])).map((l) => l.ifname),
          [
            "lo",
          ],
        );
        assert.deepEqual(stateFiles(state).filter((f) => f.startsWith("networks/")), []);
      });
    },
  );

  it("CNI: driver macvlan with master and mode; ADD, CHECK, DEL leave nothing", OPTS, async () => {
    await withCleanup(async (c) => {
      await lan(c);
      const state = tempStateDir();
      const ns = `${P}k1`;
      c.netns(ns);
      await sh("ip", "netns", "add", ns);
      const conf = {
        cniVersion: "1.0.0",
        name: `${P}cn`,
        type: "nslink",
        driver: "macvlan",
        master: UP,
        mode: "bridge",
        subnet: "198.51.100.0/24",
        gateway: ROUTER,
        ipRange: "198.51.100.192/26",
      };
      const env = {
        containerId: `${P}0123456789abcdef`,
        netns: `/run/netns/${ns}`,
        stateDir: state,
      };
      const r = await cni("ADD", conf, env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const res = r.json as {
        interfaces: { name: string; mac: string; sandbox?: string }[];
        ips: { address: string; gateway?: string; interface: number }[];
        routes: { dst: string; gw?: string }[];
      };
      assert.equal(res.interfaces.length, 1);
      assert.equal(res.interfaces[0].name, "eth0");
      assert.equal(res.interfaces[0].sandbox, env.netns);
      assert.deepEqual(res.ips, [{ address: "198.51.100.192/24", gateway: ROUTER, interface: 0 }]);
      assert.deepEqual(res.routes, [{ dst: "0.0.0.0/0", gw: ROUTER }]);
      const [link] = await ipJson<IpLink[]>(["-n", ns, "-d", "link", "show", "eth0"]);
      assert.equal(link.linkinfo?.info_kind, "macvlan");
      assert.equal(link.address, res.interfaces[0].mac);
      await assertPing(env.netns, ROUTER);
      assert.deepEqual(await macvlanLinks(), [], "nothing on the host");
      const chk = await cni("CHECK", { ...conf, prevResult: res }, env);
      assert.equal(chk.code, 0, chk.stdout + chk.stderr);
      const d = await cni("DEL", conf, env);
      assert.equal(d.code, 0, d.stdout + d.stderr);
      assert.deepEqual((await ipJson<IpLink[]>(["-n", ns, "link", "show"])).map((l) => l.ifname), [
        "lo",
      ]);
      assert.deepEqual(stateFiles(state), []);
    });
  });
});
