/**
 * Privileged tests of one network shared by several OS processes: `openNetwork` from a second
 * process, and two processes linking 20 containers each at the same moment (the state file's
 * `flock` keeps them from handing out an address twice).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Interface, newNetwork, openNetwork } from "../../mod.ts";
import { ipLink, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  bridgeNetwork,
  bridgePorts,
  cleanupNewVeths,
  readRecord,
  setUpNetworkTestFile,
  tempStateDir,
  vethNames,
} from "./_network_helpers.ts";

const FILE = setUpNetworkTestFile();
const P = FILE.prefix;
const WORKER = join(dirname(fileURLToPath(import.meta.url)), "_network_worker.ts");

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts a worker process of this same runtime (`deno run -A` or `bun`). */
function startWorker(args: string[]): Promise<Result> {
  const argv = "Bun" in globalThis ? [WORKER, ...args] : ["run", "-A", WORKER, ...args];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function lastJson<T>(r: Result): T {
  assert.equal(r.code, 0, `worker failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as T;
}

const OPTS = { skip: SKIP_ROOT, timeout: 60_000 };

describe("a network shared between processes", () => {
  it("openNetwork in a second process links a container the first one sees", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const br = `${P}bo`;
      const { network, stateDir } = await bridgeNetwork(c, `${P}-open`, br, {
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/64",
      });
      await network.link("c1");

      const [iface] = lastJson<Interface[]>(
        await startWorker(["link", stateDir, network.name, "c9"]),
      );
      assert.equal(iface.address, "198.51.100.3/24");
      assert.equal(iface.addressIPv6, "2001:db8:1::3/64");
      assert.equal(iface.macAddress, "02:42:c6:33:64:03");
      assert.equal(iface.dstName, "eth0");
      // The parent sees it, in state and in the kernel.
      assert.deepEqual(network.endpoints(), ["c1", "c9"]);
      assert.deepEqual(readRecord(stateDir, network.name)?.endpoints.c9.interfaces, [iface]);
      const src = await ipLink(iface.srcName);
      assert.equal(src?.linkinfo?.info_kind, "veth");
      assert.equal(src.address, iface.macAddress);
      assert.equal((await ipLink(`nslh${iface.srcName.slice(4)}`))?.master, br);
      // A third view, reopened here, agrees; and the parent's next link does not reuse .3.
      const reopened = await openNetwork(network.name, { stateDir });
      assert.equal(reopened.id, network.id);
      assert.deepEqual(reopened.endpoints(), ["c1", "c9"]);
      const [next] = await network.link("c2");
      assert.equal(next.address, "198.51.100.4/24");
      // Unlinking what the other process linked removes its veth.
      await reopened.unlink("c9");
      assert.equal(await ipLink(iface.srcName), undefined);
      assert.deepEqual(network.endpoints(), ["c1", "c2"]);
      await reopened[Symbol.asyncDispose](); // not owned: does not delete the network
      assert.deepEqual(network.endpoints(), ["c1", "c2"]);
      await network.delete();
      assert.equal(await ipLink(br), undefined);
      assert.deepEqual(await vethNames(), FILE.vethsAtStart());
    });
  });

  it("two processes × 20 links at the same moment get 40 distinct addresses", OPTS, async () => {
    await withCleanup(async (c) => {
      await cleanupNewVeths(c);
      const stateDir = tempStateDir();
      const barrier = mkdtempSync(join(tmpdir(), "nsl-barrier-"));
      c.defer("barrier dir", () => rmSync(barrier, { recursive: true, force: true }));
      const br = `${P}bc`;
      c.link(br);
      const network = await newNetwork("bridge", `${P}-race`, {
        stateDir,
        bridgeName: br,
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/64",
      });
      c.defer("network.delete()", () => network.delete());

      const running = ["a", "b"].map((id) =>
        startWorker(["many", stateDir, network.name, `${id}-`, "20", barrier, id])
      );
      const deadline = Date.now() + 30_000;
      while (!existsSync(join(barrier, "ready-a")) || !existsSync(join(barrier, "ready-b"))) {
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      writeFileSync(join(barrier, "go"), "");
      const got = (await Promise.all(running)).flatMap((r) => lastJson<Interface[]>(r));

      assert.equal(got.length, 40);
      assert.equal(new Set(got.map((i) => i.address)).size, 40);
      assert.equal(new Set(got.map((i) => i.addressIPv6)).size, 40);
      assert.equal(new Set(got.map((i) => i.srcName)).size, 40);
      // Lowest free first, across both processes: exactly .2 to .41.
      assert.deepEqual(
        got.map((i) => Number(i.address.split("/")[0].split(".")[3])).sort((x, y) => x - y),
        Array.from({ length: 40 }, (_, k) => k + 2),
      );
      const ports = await bridgePorts(br);
      assert.equal(ports.length, 40);
      assert.deepEqual(
        ports.map((p) => p.ifname).sort(),
        got.map((i) => `nslh${i.srcName.slice(4)}`).sort(),
      );
      const endpoints = network.endpoints();
      assert.equal(endpoints.length, 40);
      const record = readRecord(stateDir, network.name)!;
      assert.equal(Object.keys(record.pools.v4!.allocated).length, 40);
      assert.equal(Object.keys(record.pools.v6!.allocated).length, 40);

      for (const name of endpoints) await network.unlink(name);
      assert.deepEqual(network.endpoints(), []);
      assert.deepEqual(await bridgePorts(br), []);
      assert.deepEqual(await vethNames(), FILE.vethsAtStart());
      const after = readRecord(stateDir, network.name)!;
      assert.deepEqual(after.pools.v4!.allocated, {});
      assert.deepEqual(after.pools.v6!.allocated, {});
      await network.delete();
      assert.equal(await ipLink(br), undefined);
      assert.equal(readRecord(stateDir, network.name), undefined);
    });
  });

  it(
    "a network deleted and re-created while another process holds it open: that process refuses to touch it",
    OPTS,
    async () => {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const stateDir = tempStateDir();
        const barrier = mkdtempSync(join(tmpdir(), "nsl-barrier-"));
        c.defer("barrier dir", () => rmSync(barrier, { recursive: true, force: true }));
        const br = `${P}bs`;
        c.link(br);
        const name = `${P}-stale`;
        const options = { stateDir, bridgeName: br, subnet: "198.51.100.0/24" };
        const first = await newNetwork("bridge", name, options);
        c.defer("first.delete()", () => first.delete().catch(() => {}));
        const holder = startWorker(["hold", stateDir, name, barrier]);
        const deadline = Date.now() + 30_000;
        while (!existsSync(join(barrier, "ready")) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 5));
        }
        await first.delete();
        const second = await newNetwork("bridge", name, { ...options, subnet: "203.0.113.0/24" });
        c.defer("second.delete()", () => second.delete());
        assert.notEqual(second.id, first.id);
        await second.link("c1");
        writeFileSync(join(barrier, "go"), "");
        const got = lastJson<{ id: string; link: string; delete: string }>(await holder);

        assert.equal(got.id, first.id);
        assert.match(
          got.link,
          /^StaleNetworkError: Network ".*" \(id [0-9a-f]+\) no longer exists: it was deleted and re-created with id /,
        );
        assert.match(got.delete, /^StaleNetworkError: /);
        // The new network is untouched: its config, its one endpoint, its bridge.
        const record = readRecord(stateDir, name)!;
        assert.equal(record.id, second.id);
        assert.equal(record.pools.v4?.subnet, "203.0.113.0/24");
        assert.deepEqual(second.endpoints(), ["c1"]);
        assert.deepEqual(Object.keys(record.pools.v4!.allocated), ["203.0.113.2"]);
        assert.ok(await ipLink(br));
        await second.delete();
      });
    },
  );
});
