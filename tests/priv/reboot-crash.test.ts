/**
 * Crash safety of network definitions (kept across reboots, see network/definitions.ts): a
 * process killed with SIGKILL while it creates, deletes or remakes a network leaves state that
 * gc() (or the next use) finishes: an interrupted create leaves no definition, an interrupted
 * delete none either, an interrupted remake after a reboot keeps the network defined.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  type EndpointRecord,
  FileStore,
  gc,
  listNetworks,
  newNetwork,
  openNetwork,
} from "../../mod.ts";
import { ip, ipLink, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  cleanupNewVeths,
  setUpNetworkTestFile,
  stateFiles,
  tempStateDir,
} from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const WORKER = fileURLToPath(new URL("./_reboot_crash_worker.ts", import.meta.url).href);
const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };

function killedAt(mode: string, stateDir: string, configDir: string, name: string, br: string) {
  const argv = "Bun" in globalThis
    ? [WORKER, mode, stateDir, configDir, name, br]
    : ["run", "-A", WORKER, mode, stateDir, configDir, name, br];
  const r = spawnSync(process.execPath, argv, { encoding: "utf8" });
  assert.equal(r.signal, "SIGKILL", `${mode}: ${r.stdout}${r.stderr}`);
}

function definitions(configDir: string): string[] {
  const dir = join(configDir, "networks");
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

function runtimeState(stateDir: string, name: string): string | undefined {
  const file = join(stateDir, "networks", `${name}.json`);
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")).state ?? "ready") as string
    : undefined;
}

describe("gc() and definitions", () => {
  it(
    "writes the missing definition of a ready network (made by a version that kept none)",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const stateDir = tempStateDir();
        const configDir = join(stateDir, "defs");
        const name = `${P}-m`;
        c.link(`${P}m`);
        const net = await newNetwork("bridge", name, {
          stateDir,
          configDir,
          bridgeName: `${P}m`,
          subnet: "198.51.100.0/24",
        });
        c.defer("delete", () => net.delete());
        rmSync(join(configDir, "networks", `${name}.json`));
        const dry = await gc({ stateDir, configDir, dryRun: true });
        assert.deepEqual(dry.files, [`definition ${name} (written)`]);
        assert.deepEqual(definitions(configDir), [], "a dry run writes nothing");
        const report = await gc({ stateDir, configDir });
        assert.deepEqual(report.files, [`definition ${name} (written)`]);
        const def = JSON.parse(readFileSync(join(configDir, "networks", `${name}.json`), "utf8"));
        assert.deepEqual([def.id, def.pools.v4.subnet], [net.id, "198.51.100.0/24"]);
        assert.deepEqual((await gc({ stateDir, configDir })).files, [], "nothing more to do");
        // After "a reboot" (an empty state directory), it is listed.
        assert.deepEqual(listNetworks({ stateDir: tempStateDir(), configDir }), [name]);
      });
    },
  );
});

describe("endpoint records of an earlier boot", () => {
  it("are stale: link() of the name proceeds, gc() drops them", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const stateDir = tempStateDir();
      const name = `${P}-e`;
      c.link(`${P}e`);
      const net = await newNetwork("bridge", name, {
        stateDir,
        bridgeName: `${P}e`,
        subnet: "198.51.100.0/24",
      });
      c.defer("delete", () => net.delete());
      const store = new FileStore(stateDir);
      const record = store.readNetwork(name)!;
      // As a state directory that survived a reboot holds them (the owner pid may be alive again).
      const stale = (ep: string, address: string): EndpointRecord => ({
        state: "linked",
        owner: { pid: process.pid, start: 0 },
        token: `0123456789ab${ep}`,
        boot: "an-earlier-boot",
        interfaces: [{
          srcName: "",
          dstName: "eth0",
          macAddress: "",
          address: `${address}/24`,
          addressIPv6: "",
          gateway: "198.51.100.1",
          gatewayIPv6: "",
          mtu: 1500,
        }],
        hostLinks: [],
      });
      for (const [ep, address] of [["s1", "198.51.100.2"], ["s2", "198.51.100.3"]] as const) {
        assert.ok(store.createEndpoint(record, ep, stale(ep, address)));
        assert.ok(store.reserve(record, address, `${ep}@0123456789ab${ep}`));
      }
      const [iface] = await net.link("s1");
      assert.equal(iface.address, "198.51.100.2/24", "its address is free again");
      assert.deepEqual(net.endpoints(), ["s1", "s2"]);
      const report = await gc({ stateDir });
      assert.deepEqual(report.endpoints, [`${name}/s2 (of an earlier boot)`]);
      assert.deepEqual(report.addresses, [`${name}/198.51.100.3 (s2)`]);
      assert.deepEqual(net.endpoints(), ["s1"]);
      await net.unlink("s1");
    });
  });
});

describe("definitions and kill -9", () => {
  it(
    "a create killed after writing the definition: gc deletes the network and its definition",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const stateDir = tempStateDir();
        const configDir = join(stateDir, "defs");
        const name = `${P}-c`;
        c.link(`${P}c`);
        killedAt("create", stateDir, configDir, name, `${P}c`);
        assert.equal(runtimeState(stateDir, name), "creating");
        assert.deepEqual(definitions(configDir), [`${name}.json`]);
        assert.deepEqual(listNetworks({ stateDir, configDir }), [], "not listed while creating");
        const report = await gc({ stateDir, configDir });
        assert.deepEqual(report.networks, [`${name} (interrupted create)`]);
        assert.deepEqual(definitions(configDir), []);
        assert.equal(await ipLink(`${P}c`), undefined, "its bridge is gone");
        assert.deepEqual(stateFiles(stateDir), []);
      });
    },
  );

  it("a delete killed after removing the definition: gc finishes it", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const stateDir = tempStateDir();
      const configDir = join(stateDir, "defs");
      const name = `${P}-d`;
      c.link(`${P}d`);
      killedAt("delete", stateDir, configDir, name, `${P}d`);
      assert.equal(runtimeState(stateDir, name), "deleting");
      assert.deepEqual(definitions(configDir), []);
      assert.deepEqual(listNetworks({ stateDir, configDir }), []);
      const report = await gc({ stateDir, configDir });
      assert.deepEqual(report.networks, [`${name} (interrupted delete)`]);
      assert.equal(await ipLink(`${P}d`), undefined, "its bridge is gone");
      assert.deepEqual(stateFiles(stateDir), []);
    });
  });

  it(
    "a remake after a reboot killed midway: the network stays defined, and the next open makes it",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const before = tempStateDir();
        const configDir = join(before, "defs");
        const name = `${P}-r`;
        c.link(`${P}r`);
        const net = await newNetwork("bridge", name, {
          stateDir: before,
          configDir,
          bridgeName: `${P}r`,
          subnet: "198.51.100.0/24",
        });
        const id = net.id;
        // "The reboot": the bridge gone, a new (empty) state directory, the same definitions.
        assert.equal((await ipLink(`${P}r`)) !== undefined, true);
        assert.equal((await ip(["link", "del", `${P}r`])).code, 0);
        const stateDir = tempStateDir();
        mkdirSync(stateDir, { recursive: true });
        assert.deepEqual(listNetworks({ stateDir, configDir }), [name]);
        killedAt("restore", stateDir, configDir, name, `${P}r`);
        assert.equal(runtimeState(stateDir, name), "creating");
        assert.deepEqual(listNetworks({ stateDir, configDir }), [name], "still listed");
        const report = await gc({ stateDir, configDir });
        assert.deepEqual(report.networks, [`${name} (interrupted create)`]);
        assert.deepEqual(definitions(configDir), [`${name}.json`], "still defined");
        const again = await openNetwork(name, { stateDir, configDir });
        assert.equal(again.id, id);
        assert.ok(await ipLink(`${P}r`), "made again");
        await again.delete();
        assert.deepEqual(definitions(configDir), []);
        assert.deepEqual(listNetworks({ stateDir, configDir }), []);
        assert.deepEqual(stateFiles(stateDir), []);
      });
    },
  );
});
