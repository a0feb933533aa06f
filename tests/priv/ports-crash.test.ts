/**
 * Published ports and the firewall under kill -9: a worker process (`_ports_worker.ts`) runs
 * one operation with ports (link with a port bound to 127.0.0.1, publish, unpublish, network
 * create, network delete) and kills itself at its Nth step, for every N until the operation
 * finishes. After each kill ONE `gc()` pass must leave the firewall exactly as the saved state
 * says: the nft maps hold exactly the saved bindings (read back with `nft -j`), no port claim
 * exists without a record holding that binding, and every ready network has its isolation
 * chain. An interrupted link must also be undone by CNI DEL and `unlink` (never needing what the
 * killed link did not write), and the same link must succeed again. A bad record never stops
 * `gc()`: it reports it and goes on with the next networks.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import $ from "dax-sh";
import { gc, newNetwork, openNetwork } from "../../mod.ts";
import { endpointName, nslinkPlugin } from "../../cni/plugin.ts";
import type { CniNetConf } from "../../cni/types.ts";
import { agentOffForTests } from "./_agent_helpers.ts";
import { SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";

const FILE = setUpNetworkTestFile();
const P = FILE.prefix;
// No host agent (here, nor in the workers, which inherit the variable): its firewall duty would
// repair and reconcile while this test checks what one gc pass alone leaves after each kill.
let agentBack = () => {};
before(() => void (agentBack = agentOffForTests()));
after(() => agentBack());
const WORKER = join(dirname(fileURLToPath(import.meta.url)), "_ports_worker.ts");
const LINK_PORTS = [
  { hostIP: "127.0.0.1", hostPort: 18080, port: 80 },
  { hostPort: 18081, port: 81 },
];

/** Runs the worker once: `true` when the operation finished, `false` when it died at step n. */
function step(args: string[]): Promise<boolean> {
  const argv = "Bun" in globalThis ? [WORKER, ...args] : ["run", "-A", WORKER, ...args];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      if (code === 0 && out.includes("done")) resolve(true);
      else if (signal === "SIGKILL" && out.includes(`step ${args[4]}`)) resolve(false);
      else reject(new Error(`worker ${args.join(" ")}: code ${code} signal ${signal}: ${err}`));
    });
  });
}

interface SavedBinding {
  protocol: string;
  hostIP: string;
  hostPort: number;
  port: number;
}
interface SavedEndpoint {
  state?: string;
  hostLinks?: string[];
  interfaces: { address?: string; addressIPv6?: string }[];
  ports?: SavedBinding[];
}
interface SavedNetwork {
  name: string;
  id: string;
  type: string;
  state?: string;
  config: { bridgeName?: string };
}

/** The saved state, read by hand: networks and their endpoint records. */
function saved(stateDir: string): { net: SavedNetwork; eps: Map<string, SavedEndpoint> }[] {
  const dir = join(stateDir, "networks");
  const out = [];
  for (const f of existsSync(dir) ? readdirSync(dir) : []) {
    if (!f.endsWith(".json")) continue;
    const net = JSON.parse(readFileSync(join(dir, f), "utf8")) as SavedNetwork;
    const eps = new Map<string, SavedEndpoint>();
    const epDir = join(stateDir, `ep.${net.id}`);
    for (const e of existsSync(epDir) ? readdirSync(epDir) : []) {
      if (!e.endsWith(".json")) continue;
      try {
        eps.set(e.slice(0, -5), JSON.parse(readFileSync(join(epDir, e), "utf8")));
      } catch {
        // A record made unreadable on purpose (the bad-record test).
      }
    }
    out.push({ net, eps });
  }
  return out;
}

const bare = (a?: string) => (a ?? "").replace(/\/\d+$/, "");

/** The map elements the saved bindings need, as `map proto [hostIP] hostPort -> addr port`. */
function expectedElements(stateDir: string): string[] {
  const out: string[] = [];
  for (const { net, eps } of saved(stateDir)) {
    if ((net.state ?? "ready") !== "ready" || net.type !== "bridge") continue;
    for (const ep of eps.values()) {
      const v4 = bare(ep.interfaces[0]?.address);
      const v6 = bare(ep.interfaces[0]?.addressIPv6);
      for (const b of ep.ports ?? []) {
        const el = (map: string, host: string, addr: string) =>
          out.push(
            `${map} ${b.protocol} ${host}${host ? " " : ""}${b.hostPort} -> ${addr} ${b.port}`,
          );
        if (b.hostIP === "") {
          if (v4) el("pub4", "", v4);
          if (v6) el("pub6", "", v6);
        } else if (b.hostIP === "0.0.0.0") el("pub4", "", v4);
        else if (b.hostIP === "::") el("pub6", "", v6);
        else if (b.hostIP.includes(":")) el("pub6a", b.hostIP, v6);
        else el("pub4a", b.hostIP, v4);
      }
    }
  }
  return out.sort();
}

async function nftJson(args: string[]): Promise<Record<string, unknown>[] | undefined> {
  const r = await $`nft -j ${args}`.noThrow().stdout("piped").stderr("piped");
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return undefined;
    throw new Error(`nft -j ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  }
  return (JSON.parse(r.stdout) as { nftables: Record<string, unknown>[] }).nftables;
}

const flat = (v: unknown): unknown[] =>
  Array.isArray(v)
    ? v.flatMap(flat)
    : v && typeof v === "object" && "concat" in v
    ? flat((v as { concat: unknown }).concat)
    : [v];

/** The map elements in the kernel, same format as {@linkcode expectedElements}. */
async function kernelElements(): Promise<string[]> {
  const out: string[] = [];
  for (const map of ["pub4", "pub4a", "pub6", "pub6a"]) {
    const list = await nftJson(["list", "map", "inet", "nslink", map]);
    for (const item of list ?? []) {
      const m = (item as { map?: { elem?: unknown[] } }).map;
      for (const e of m?.elem ?? []) {
        const [key, data] = e as unknown[];
        out.push(`${map} ${flat(key).join(" ")} -> ${flat(data).join(" ")}`);
      }
    }
  }
  return out.sort();
}

/** Every port claim in the state directory: `kind/name` and the owner it names. */
function portClaims(stateDir: string): { claim: string; owner: string }[] {
  const out = [];
  for (const kind of readdirSync(stateDir)) {
    if (!kind.startsWith("ports.")) continue;
    for (const name of readdirSync(join(stateDir, kind))) {
      const path = join(stateDir, kind, name);
      // A symbolic link naming its owner, or a directory holding one entry named after it.
      const owner = lstatSync(path).isDirectory()
        ? readdirSync(path).join(",")
        : readlinkSync(path);
      out.push({ claim: `${kind}/${name}`, owner });
    }
  }
  return out;
}

/** What must hold after gc: maps as saved, claims all explained, isolation chains present. */
async function assertConsistent(stateDir: string, what: string): Promise<void> {
  assert.deepEqual(await kernelElements(), expectedElements(stateDir), `${what}: nft maps`);
  const nets = saved(stateDir);
  for (const { claim, owner } of portClaims(stateDir)) {
    const [kind, name] = claim.split("/");
    const [, protocol, port] = /^ports\.(\w+)-(\d+)$/.exec(kind)!;
    const who = owner.replace(/@.*$/, "");
    const id = who.slice(0, who.indexOf("_"));
    const endpoint = who.slice(who.indexOf("_") + 1);
    const ep = nets.find((n) => n.net.id === id)?.eps.get(endpoint);
    const held = ep?.ports?.some((b) =>
      b.protocol === protocol && b.hostPort === Number(port) &&
      (b.hostIP || "any") === name
    );
    assert.ok(held, `${what}: claim ${claim} -> ${owner} has no record holding it`);
  }
  const chains = (await nftJson(["list", "table", "inet", "nslink"]) ?? [])
    .map((c) => (c as { chain?: { name: string } }).chain?.name);
  for (const { net } of nets) {
    if (net.type !== "bridge" || (net.state ?? "ready") !== "ready") continue;
    assert.ok(
      chains.includes(`in-${net.config.bridgeName}`),
      `${what}: network ${net.name} is ready without its isolation chain`,
    );
  }
}

async function gcOnce(stateDir: string, what: string): Promise<void> {
  const report = await gc({ stateDir });
  assert.deepEqual(report.errors ?? [], [], `${what}: gc errors`);
}

describe("published ports under kill -9", { skip: SKIP_ROOT }, () => {
  it(
    "a link killed at any step with a port on 127.0.0.1 is undone by CNI DEL and gc, and links again",
    {
      timeout: 400_000,
    },
    async () => {
      await withCleanup(async (c) => {
        const stateDir = tempStateDir();
        const name = `${P}l`;
        c.link(`${P}lb`);
        const network = await newNetwork("bridge", name, {
          stateDir,
          bridgeName: `${P}lb`,
          subnet: "198.51.100.0/24",
          subnetIPv6: "2001:db8:71::/64",
        });
        c.defer("network.delete()", () => network.delete());
        const containerId = `${P}c0ffee`;
        const ep = endpointName(containerId, "eth0");
        const conf = { cniVersion: "1.0.0", name, type: "nslink" } as CniNetConf;
        let kills = 0;
        for (let n = 1;; n++) {
          const what = `link killed at step ${n}`;
          if (await step([stateDir, "link", name, ep, String(n)])) break;
          kills++;
          if (n % 2 === 0) {
            // CNI DEL straight after the kill, before any gc: it must undo the attempt.
            await nslinkPlugin.del({
              command: "DEL",
              containerId,
              netns: "",
              ifname: "eth0",
              args: {},
              path: [],
              stateDir,
            }, conf);
            assert.deepEqual(portClaims(stateDir), [], `${what}: claims after CNI DEL`);
            assert.deepEqual(await kernelElements(), [], `${what}: map elements after CNI DEL`);
          } else {
            // The same link straight after the kill, before any gc: it undoes the attempt first.
            await network.link(ep, { ports: LINK_PORTS });
            await assertConsistent(stateDir, `${what}, linked at once`);
            assert.equal((await kernelElements()).length, 3, `${what}: linked at once`);
            await network.unlink(ep);
            assert.deepEqual(portClaims(stateDir), [], `${what}: claims after unlink`);
          }
          await gcOnce(stateDir, what);
          await assertConsistent(stateDir, what);
          // The same link again: the port is free.
          await network.link(ep, { ports: LINK_PORTS });
          await assertConsistent(stateDir, `${what}, linked again`);
          assert.equal((await kernelElements()).length, 3, `${what}: linked again`);
          await network.unlink(ep);
          await gcOnce(stateDir, `${what}, unlinked`);
          await assertConsistent(stateDir, `${what}, unlinked`);
          assert.deepEqual(portClaims(stateDir), [], `${what}: claims after unlink`);
        }
        assert.ok(kills >= 6, `only ${kills} steps`);
        await network.unlink(ep);
        await assertConsistent(stateDir, "after the last link");
      });
    },
  );

  it(
    "publish, unpublish, network create and delete killed at any step: one gc pass leaves the firewall as saved",
    {
      timeout: 400_000,
    },
    async () => {
      await withCleanup(async (c) => {
        const stateDir = tempStateDir();
        const name = `${P}p`;
        c.link(`${P}pb`);
        c.link(`${P}qb`);
        const network = await newNetwork("bridge", name, {
          stateDir,
          bridgeName: `${P}pb`,
          subnet: "198.51.100.0/24",
          subnetIPv6: "2001:db8:72::/64",
          dns: false,
        });
        c.defer("network.delete()", () => network.delete());
        await network.link("c1");
        const ports = [
          { hostIP: "127.0.0.1", hostPort: 18090, port: 90 },
          { hostPort: 18091, port: 91, protocol: "udp" },
        ];
        const other = `${P}q`;
        const setUp: Record<string, () => Promise<void>> = {
          publish: async () => {
            await network.unpublish("c1");
          },
          unpublish: async () => {
            await network.unpublish("c1");
            await network.publish("c1", ports);
          },
          create: async () => {
            const list = saved(stateDir).map((s) => s.net.name);
            if (list.includes(other)) await (await openNetwork(other, { stateDir })).delete();
          },
          delete: async () => {
            const list = saved(stateDir).map((s) => s.net.name);
            if (list.includes(other)) await (await openNetwork(other, { stateDir })).delete();
            const n2 = await newNetwork("bridge", other, {
              stateDir,
              bridgeName: `${P}qb`,
              subnet: "203.0.113.0/26",
              dns: false,
            });
            await n2.link("d1", { ports: [{ hostPort: 18100, port: 100 }] });
          },
        };
        for (const op of ["publish", "unpublish", "create", "delete"]) {
          let kills = 0;
          for (let n = 1;; n++) {
            const what = `${op} killed at step ${n}`;
            await setUp[op]();
            await assertConsistent(stateDir, `${what}, before`);
            if (
              await step([
                stateDir,
                op,
                op === "create" || op === "delete" ? other : name,
                "c1",
                String(n),
                `${P}qb`,
              ])
            ) {
              await assertConsistent(stateDir, `${op} finished`);
              break;
            }
            kills++;
            await gcOnce(stateDir, what);
            await assertConsistent(stateDir, what);
          }
          assert.ok(kills >= 2, `${op}: only ${kills} steps`);
        }
        await setUp.create();
        await network.unlink("c1");
        await assertConsistent(stateDir, "the end");
      });
    },
  );

  it("gc() reports a bad record and still collects the networks after it", async () => {
    await withCleanup(async (c) => {
      const stateDir = tempStateDir();
      c.link(`${P}ab`);
      c.link(`${P}zb`);
      const a = await newNetwork("bridge", `${P}a`, {
        stateDir,
        bridgeName: `${P}ab`,
        subnet: "198.51.100.0/25",
      });
      c.defer("a.delete()", () => a.delete());
      const z = await newNetwork("bridge", `${P}z`, {
        stateDir,
        bridgeName: `${P}zb`,
        subnet: "198.51.100.128/25",
      });
      c.defer("z.delete()", () => z.delete());
      await a.link("c1", { ports: [{ hostIP: "127.0.0.1", hostPort: 18110, port: 80 }] });
      // Network a (first by name): an endpoint record that cannot be read.
      const aId = saved(stateDir).find((s) => s.net.name === a.name)!.net.id;
      const bad = join(stateDir, `ep.${aId}`, "bad.json");
      writeFileSync(bad, "{ not json");
      c.defer("remove bad.json", () => rmSync(bad, { force: true }));
      // Network z (after it): an endpoint whose links are gone, which gc must collect.
      await z.link("c2");
      const zEp = saved(stateDir).find((s) => s.net.name === z.name)!.eps.get("c2")!;
      for (const l of zEp.hostLinks ?? []) {
        await $`ip link del ${l}`.noThrow();
      }
      const report = await gc({ stateDir });
      // Reported: the record, and the firewall reconcile it keeps from running (the firewall is
      // left as it is rather than rebuilt without a network gc cannot read).
      assert.match(report.errors[0] ?? "", new RegExp(`^${a.name}/bad: .*not valid JSON`));
      assert.ok(report.errors.every((e) => e.includes("bad.json")), report.errors.join("\n"));
      assert.ok(
        report.endpoints.includes(`${z.name}/c2 (kernel objects gone)`),
        report.endpoints.join(),
      );
      assert.equal(saved(stateDir).find((s) => s.net.name === z.name)!.eps.size, 0);
      // Network a's good endpoint and its port are untouched.
      assert.deepEqual(await a.ports("c1"), [
        { protocol: "tcp", hostIP: "127.0.0.1", hostPort: 18110, port: 80 },
      ]);
      rmSync(bad);
      await a.unlink("c1");
    });
  });
});
