/**
 * Claims are released only by the identity that made them: two processes cycle endpoints of one
 * network (link into a new namespace, delete the namespace, unlink at once, so each endpoint is
 * left releasing and the other process's next `link` settles it), one of them re-linking the
 * same endpoint name every round, the other releasing slowly (a synchronous pause before each
 * address release widens the window). A process settling a released endpoint must never free what
 * the same name's newer link holds: no address is ever live twice (checked with `ip -j` across
 * namespaces while they run), and at the end every reservation belongs to a record.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { gc, newNetwork } from "../../mod.ts";
import { SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  liveAddresses,
  readRecord,
  setUpNetworkTestFile,
  tempStateDir,
} from "./_network_helpers.ts";

const FILE = setUpNetworkTestFile();
const P = FILE.prefix;
const WORKER = join(dirname(fileURLToPath(import.meta.url)), "_claims_worker.ts");
const ROUNDS = Number(process.env.NSLINK_RACE_ROUNDS ?? 150);

interface Hold {
  address: string;
  from: number;
  to: number;
}

function worker(
  args: string[],
): { done: Promise<void>; running: () => boolean; holds: () => Hold[] } {
  const argv = "Bun" in globalThis ? [WORKER, ...args] : ["run", "-A", WORKER, ...args];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let running = true;
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const guard = setTimeout(() => child.kill("SIGKILL"), 240_000);
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      running = false;
      clearTimeout(guard);
      if (code === 0 && out.includes("done")) resolve();
      else reject(new Error(`worker ${args.join(" ")}: code ${code} signal ${signal}: ${err}`));
    });
  });
  const holds = () =>
    [...out.matchAll(/^hold (\S+) (\d+) (\d+)$/gm)].map((m) => ({
      address: m[1],
      from: Number(m[2]),
      to: Number(m[3]),
    }));
  return { done, running: () => running, holds };
}

describe("claims under a re-link race", { skip: SKIP_ROOT }, () => {
  it("settling a released endpoint never frees the claims of its name's newer link", {
    timeout: 300_000,
  }, async () => {
    await withCleanup(async (c) => {
      const stateDir = tempStateDir();
      const name = `${P}r`;
      c.link(`${P}rb`);
      c.netns(`${P}n1`);
      c.netns(`${P}n2`);
      const network = await newNetwork("bridge", name, {
        stateDir,
        bridgeName: `${P}rb`,
        subnet: "198.51.100.0/24",
      });
      c.defer("network.delete()", () => network.delete());
      // a re-links "e" every round; b links "f" and settles a's releases with a slow release.
      const a = worker([stateDir, name, "e", `/run/netns/${P}n1`, String(ROUNDS)]);
      const b = worker([stateDir, name, "f", `/run/netns/${P}n2`, String(ROUNDS), "15"]);
      const seen: string[] = [];
      let looks = 0;
      while (a.running() || b.running()) {
        const dup = [...await liveAddresses(P)].filter(([, at]) => at.length > 1);
        looks++;
        for (const [address, at] of dup) seen.push(`${address} at ${at.join(", ")}`);
      }
      await Promise.all([a.done, b.done]);
      assert.deepEqual(seen, [], `addresses live twice (in ${looks} looks)`);
      // The same from the workers' own reports: no address held by both at once.
      const overlaps: string[] = [];
      for (const x of a.holds()) {
        for (const y of b.holds()) {
          if (x.address === y.address && x.from < y.to && y.from < x.to) {
            overlaps.push(`${x.address}: e ${x.from}-${x.to}, f ${y.from}-${y.to}`);
          }
        }
      }
      assert.equal(a.holds().length, ROUNDS);
      assert.deepEqual(overlaps, [], "addresses held by both workers at once");
      // Every reservation left belongs to a record; gc then frees them all.
      await gc({ stateDir });
      const record = readRecord(stateDir, name)!;
      assert.deepEqual(record.pools.v4!.allocated, {});
      assert.deepEqual(Object.keys(record.endpoints), []);
    });
  });
});
