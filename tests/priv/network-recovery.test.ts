/**
 * Privileged tests of crash recovery: what a process killed in the middle of `link()` or
 * `newNetwork()` leaves (recreated here by hand, exactly as the state and the kernel look after
 * such a kill) is cleaned up by the next `link()` of that endpoint, the next `newNetwork()` of
 * that name, or by `gc()`; `gc({ dryRun: true })` only reports.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  FileStore,
  gc,
  linkAlias,
  listNetworks,
  type NetworkRecord,
  newNetwork,
  openNetwork,
  type Owner,
} from "../../mod.ts";
import { shortHash } from "../../drivers/bridge.ts";
import { ip, ipAddrs, ipLink, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  bridgeNetwork,
  cleanupNewVeths,
  namespaceAt,
  readRecord,
  setUpNetworkTestFile,
  stateFiles,
  tempStateDir,
} from "./_network_helpers.ts";

const P = setUpNetworkTestFile().prefix;
const CREATE_WORKER = join(dirname(fileURLToPath(import.meta.url)), "_create_worker.ts");
const OPTS = { skip: SKIP_ROOT, timeout: 30_000 };
const V4V6 = { subnet: "198.51.100.0/24", subnetIPv6: "2001:db8:1::/64" };
/** A process that does not exist: /proc has no such pid. */
const DEAD: Owner = { pid: 2147483646, start: 1 };

/** Leaves state and kernel exactly as a link() killed after creating its veth does. */
async function deadLinkAttempt(
  stateDir: string,
  networkName: string,
  endpoint: string,
  withAlias: boolean,
): Promise<{ hostEnd: string; address: string }> {
  const store = new FileStore(stateDir);
  const record = store.readNetwork(networkName)!;
  const hostEnd = `nslh${shortHash(`${record.id}/${endpoint}`)}`;
  assert.ok(store.createEndpoint(record, endpoint, {
    state: "creating",
    owner: DEAD,
    interfaces: [],
    hostLinks: [hostEnd],
  }));
  const address = "198.51.100.2";
  assert.ok(store.reserve(record, address, endpoint));
  assert.ok(store.reserve(record, "2001:db8:1::2", endpoint));
  const cfg = record.config as { bridgeName: string };
  const peer = `nslc${hostEnd.slice(4)}`;
  const r = await ip([
    "link",
    "add",
    hostEnd,
    "master",
    cfg.bridgeName,
    "type",
    "veth",
    "peer",
    peer,
  ]);
  assert.equal(r.code, 0, r.stderr);
  if (withAlias) {
    assert.equal(
      (await ip(["link", "set", hostEnd, "alias", linkAlias(record.id, endpoint)])).code,
      0,
    );
  }
  return { hostEnd, address };
}

describe("link() after a process died in the middle of link()", () => {
  for (const fast of [false, true]) {
    it(
      `cleans the dead attempt up and succeeds (${fast ? "fast" : "seed"} path)`,
      OPTS,
      async () => {
        await withCleanup(async (c) => {
          await cleanupNewVeths(c);
          const br = `${P}r${fast ? "f" : "s"}`;
          const { network, stateDir } = await bridgeNetwork(c, `${P}-r${fast ? "f" : "s"}`, br, {
            ...V4V6,
          });
          const { hostEnd, address } = await deadLinkAttempt(stateDir, network.name, "c1", !fast);
          assert.ok(await ipLink(hostEnd));
          // A second process sees the attempt as abandoned too.
          const other = await openNetwork(network.name, { stateDir });
          assert.deepEqual(other.endpoints(), []);
          const ns = fast ? await namespaceAt(c, `/run/netns/${P}rn`) : undefined;

          const [iface] = await network.link("c1", ns ? { namespace: ns } : {});

          assert.equal(iface.address, `${address}/24`, "the dead attempt's address was not freed");
          assert.equal(iface.addressIPv6, "2001:db8:1::2/64");
          const host = await ipLink(hostEnd);
          assert.equal(host?.master, br);
          assert.deepEqual(network.endpoints(), ["c1"]);
          const record = readRecord(stateDir, network.name)!;
          assert.equal(record.endpoints.c1.state, "linked");
          assert.deepEqual(record.pools.v4!.allocated, { [address]: "c1" });
          assert.deepEqual(record.pools.v6!.allocated, { "2001:db8:1::2": "c1" });
          await network.unlink("c1");
          assert.equal(await ipLink(hostEnd), undefined);
          assert.deepEqual(readRecord(stateDir, network.name)!.pools.v4!.allocated, {});
        });
      },
    );
  }

  it(
    "refuses while the attempt's owner is alive, and unlink() undoes a dead one",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const br = `${P}ra`;
        const { network, stateDir } = await bridgeNetwork(c, `${P}-ra`, br, { ...V4V6 });
        const store = new FileStore(stateDir);
        const record = store.readNetwork(network.name)!;
        // pid 1 is alive (the sandbox's init); start 0 matches any start time.
        store.createEndpoint(record, "busy", {
          state: "creating",
          owner: { pid: 1, start: 0 },
          interfaces: [],
          hostLinks: [],
        });
        await assert.rejects(network.link("busy"), /is being linked by pid 1$/);
        await assert.rejects(network.unlink("busy"), /is being linked by pid 1$/);
        store.removeEndpoint(record, "busy");

        const { hostEnd } = await deadLinkAttempt(stateDir, network.name, "c2", true);
        await network.unlink("c2");
        assert.equal(await ipLink(hostEnd), undefined);
        assert.deepEqual(stateFiles(stateDir), [`networks/${network.name}.json`]);
      });
    },
  );
});

describe("an open network object after another process died holding an address", () => {
  it("never hands out the dead attempt's address, whatever it had cached", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}rc`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-rc`, br, { ...V4V6 });
      const [first] = await network.link("c1"); // .2; the object now knows the pool
      assert.equal(first.address, "198.51.100.2/24");
      // Another process reserved .3 for "c2" and died before its record was final.
      const store = new FileStore(stateDir);
      const record = store.readNetwork(network.name)!;
      store.createEndpoint(record, "c2", {
        state: "creating",
        owner: DEAD,
        interfaces: [],
        hostLinks: [],
      });
      store.reserve(record, "198.51.100.3", "c2");
      store.reserve(record, "2001:db8:1::3", "c2");
      const [next] = await network.link("c3");
      assert.equal(next.address, "198.51.100.4/24");
      assert.equal(next.addressIPv6, "2001:db8:1::4/64");
      // Recovery (here: gc) frees it; then it is handed out again.
      const report = await gc({ stateDir });
      assert.deepEqual(report.endpoints, [`${network.name}/c2 (interrupted link)`]);
      const [again] = await network.link("c4");
      assert.equal(again.address, "198.51.100.3/24");
    });
  });
});

describe("newNetwork() after a process died in the middle of newNetwork()", () => {
  it("finishes the dead attempt (its bridge goes) and creates the network", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const stateDir = tempStateDir();
      const br = `${P}rn`;
      c.link(br);
      const store = new FileStore(stateDir);
      const dead: NetworkRecord = {
        version: 1,
        name: `${P}-rn`,
        type: "bridge",
        id: "00000000dead",
        created: new Date(0).toISOString(),
        config: {
          bridgeName: br,
          mtu: 1500,
          containerInterfacePrefix: "eth",
          adopted: false,
          addedAddresses: [],
        },
        pools: { v4: { subnet: "203.0.113.0/24", gateway: "203.0.113.1", allocated: {} } },
        endpoints: {},
        state: "creating",
        owner: DEAD,
      };
      assert.ok(store.createNetwork(dead));
      assert.equal((await ip(["link", "add", br, "type", "bridge"])).code, 0);
      await assert.rejects(openNetwork(dead.name, { stateDir }), /being created/);

      const network = await newNetwork("bridge", dead.name, { stateDir, bridgeName: br, ...V4V6 });
      c.defer("network.delete()", () => network.delete());

      assert.notEqual(network.id, dead.id);
      assert.equal(readRecord(stateDir, dead.name)?.pools.v4?.subnet, "198.51.100.0/24");
      assert.equal((await ipLink(br))?.linkinfo?.info_kind, "bridge");
      await network.delete();
      assert.deepEqual(stateFiles(stateDir), []);
    });
  });
});

describe("gc() after newNetwork() died while adopting a bridge", () => {
  it(
    "removes exactly the gateway addresses it was adding, and leaves the bridge",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const stateDir = tempStateDir();
        const br = `${P}ad`;
        c.link(br);
        assert.equal((await ip(["link", "add", br, "type", "bridge"])).code, 0);
        assert.equal((await ip(["addr", "add", "203.0.113.9/24", "dev", br])).code, 0);
        // A process adopting the bridge is killed right after adding the IPv4 gateway.
        const name = `${P}-ad`;
        const argv = "Bun" in globalThis
          ? [CREATE_WORKER, stateDir, name, br]
          : ["run", "-A", CREATE_WORKER, stateDir, name, br];
        const killed = spawnSync(process.execPath, argv, { encoding: "utf8" });
        assert.equal(killed.signal, "SIGKILL", killed.stderr);
        assert.deepEqual(
          (await ipAddrs(br)).filter((a) => a.scope === "global").map((a) => a.local).sort(),
          ["198.51.100.1", "203.0.113.9"],
        );
        assert.equal(readRecord(stateDir, name)?.state, "creating");

        const report = await gc({ stateDir });

        assert.deepEqual(report.networks, [`${name} (interrupted create)`]);
        const left = (await ipAddrs(br)).filter((a) => a.scope === "global").map((a) =>
          `${a.local}/${a.prefixlen}`
        );
        assert.deepEqual(left, ["203.0.113.9/24"], "the adopted bridge's own address must stay");
        assert.ok(await ipLink(br), "an adopted bridge is not deleted");
        assert.deepEqual(stateFiles(stateDir), []);
      });
    },
  );
});

describe("network.delete()", () => {
  it(
    "removes temporary files a killed writer left (no temp file survives a delete)",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const br = `${P}rt`;
        const { network, stateDir } = await bridgeNetwork(c, `${P}-rt`, br, { ...V4V6 });
        await network.link("c1");
        const id = new FileStore(stateDir).readNetwork(network.name)!.id;
        // As left by writers killed between write and rename (this pid: gc() would keep them).
        const pid = process.pid;
        writeFileSync(join(stateDir, `networks/${network.name}.json.tmp-${pid}-0123456789ab`), "{");
        writeFileSync(join(stateDir, `ep.${id}/c1.json.tmp-${pid}-0123456789ab`), "{");
        writeFileSync(join(stateDir, `ep.${id}/c2.json.tmp-${pid}-0123456789ab`), "{");
        await network.delete();
        assert.deepEqual(stateFiles(stateDir), []);
      });
    },
  );
});

describe("gc()", () => {
  it("reports with dryRun, then reconciles state with the kernel", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}g`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-g`, br, { ...V4V6 });
      const store = new FileStore(stateDir);
      const record = store.readNetwork(network.name)!;
      // 1. An interrupted link (its veth, its reservations).
      const dead = await deadLinkAttempt(stateDir, network.name, "dead", true);
      // 2. A container whose namespace was deleted without unlink: its veth goes by itself.
      const ns = await namespaceAt(c, `/run/netns/${P}gn`);
      const [gone] = await network.link("gone", { namespace: ns });
      await ns.addInterface(gone);
      await ns.delete();
      // 3. A live container: untouched.
      const [live] = await network.link("live");
      // 4. A veth tagged as this network's, whose record is gone.
      const orphan = `${P}go`;
      c.link(orphan);
      assert.equal((await ip(["link", "add", orphan, "type", "veth", "peer", `${P}gp`])).code, 0);
      assert.equal(
        (await ip(["link", "set", orphan, "alias", linkAlias(record.id, "ghost")])).code,
        0,
      );
      // 4b. Links of a network no state knows: one whose bridge is gone (garbage), one whose
      // bridge still exists (another state directory's: left alone).
      const lost = `${P}gl`;
      const other = `${P}gf`;
      const otherBr = `${P}gob`;
      for (const n of [lost, other, otherBr]) c.link(n);
      assert.equal((await ip(["link", "add", lost, "type", "veth", "peer", `${P}gm`])).code, 0);
      assert.equal((await ip(["link", "set", lost, "alias", "nslink:00000000cafe:x"])).code, 0);
      assert.equal((await ip(["link", "add", otherBr, "type", "bridge"])).code, 0);
      assert.equal((await ip(["link", "set", otherBr, "alias", "nslink:00000000f00d"])).code, 0);
      assert.equal((await ip(["link", "add", other, "type", "veth", "peer", `${P}gg`])).code, 0);
      assert.equal((await ip(["link", "set", other, "alias", "nslink:00000000f00d:y"])).code, 0);
      // 5. A reservation without an endpoint record, a dead writer's temporary file, and the
      // data of a network id that no record names.
      store.reserve(record, "198.51.100.200", "ghost");
      const tmp = `networks/${network.name}.json.tmp-2147483646-abcdef012345`;
      writeFileSync(join(stateDir, tmp), "{ half");
      store.files.makeKind("ep.00000000beef");

      // The namespace's veth may still be going: wait until the kernel removed it.
      const goneHost = `nslh${gone.srcName.slice(4)}`;
      for (let i = 0; i < 100 && (await ipLink(goneHost)); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const before = stateFiles(stateDir);
      const dry = await gc({ stateDir, dryRun: true });
      assert.equal(dry.dryRun, true);
      assert.deepEqual(stateFiles(stateDir), before, "a dry run changed the state");
      assert.ok(await ipLink(dead.hostEnd), "a dry run deleted a link");
      assert.ok(await ipLink(orphan));

      const report = await gc({ stateDir });

      assert.deepEqual(report.networks, []);
      assert.deepEqual(report.endpoints.sort(), [
        `${network.name}/dead (interrupted link)`,
        `${network.name}/gone (kernel objects gone)`,
      ]);
      assert.deepEqual(
        report.addresses.sort(),
        [
          `${network.name}/198.51.100.2 (dead)`,
          `${network.name}/198.51.100.200 (ghost, no endpoint record)`,
          `${network.name}/2001:db8:1::2 (dead)`,
          `${network.name}/${gone.address.split("/")[0]} (gone)`,
          `${network.name}/${gone.addressIPv6.split("/")[0]} (gone)`,
        ].sort(),
      );
      assert.deepEqual(
        report.links.sort(),
        [
          `${dead.hostEnd} (${network.name}/dead)`,
          `${orphan} (${linkAlias(record.id, "ghost")})`,
          `${lost} (nslink:00000000cafe:x, network gone)`,
        ].sort(),
      );
      assert.deepEqual(report.foreign, [`${other} (nslink:00000000f00d:y)`]);
      assert.equal(await ipLink(lost), undefined);
      assert.ok(await ipLink(other), "another state directory's link was deleted");
      assert.deepEqual(report.files.sort(), [
        `state ep.00000000beef/ (no network has id 00000000beef)`,
        `temporary file ${tmp}`,
      ]);
      assert.deepEqual(dry.endpoints.sort(), report.endpoints);
      assert.deepEqual(dry.links.sort(), report.links);
      assert.deepEqual(dry.files.sort(), report.files);

      assert.equal(await ipLink(dead.hostEnd), undefined);
      assert.equal(await ipLink(orphan), undefined);
      assert.deepEqual(network.endpoints(), ["live"]);
      assert.deepEqual(readRecord(stateDir, network.name)!.pools.v4!.allocated, {
        [live.address.split("/")[0]]: "live",
      });
      assert.equal(existsSync(join(stateDir, tmp)), false);
      // A second run finds nothing.
      const again = await gc({ stateDir });
      for (const k of ["networks", "endpoints", "addresses", "links", "files"] as const) {
        assert.deepEqual(again[k], [], k);
      }
      await network.unlink("live");
      await network.delete();
      assert.deepEqual(stateFiles(stateDir), []);
    });
  });

  it("finishes an interrupted network delete", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}gd`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-gd`, br, { ...V4V6 });
      const [iface] = await network.link("c1");
      const store = new FileStore(stateDir);
      const record = store.readNetwork(network.name)!;
      store.writeNetwork({ ...record, state: "deleting", owner: DEAD });
      assert.deepEqual(listNetworks({ stateDir }), []);

      const report = await gc({ stateDir });

      assert.deepEqual(report.networks, [`${network.name} (interrupted delete)`]);
      assert.equal(await ipLink(br), undefined);
      assert.equal(await ipLink(iface.srcName), undefined);
      assert.deepEqual(stateFiles(stateDir), []);
    });
  });
});
