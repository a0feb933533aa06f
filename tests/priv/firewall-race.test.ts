/**
 * Rebuilds of nslink's one nf_tables table from two processes at the same moment: every
 * network must keep its rules. Two worker processes (`_fwrace_worker.ts`), each with its own
 * state directory, are told at the same instant to create a bridge network each (one of the
 * two `internal` in turn), then to delete them; after each step the table is read back with
 * `nft -j list table inet nslink`. Many rounds, since each is one roll of the timing dice.
 *
 * Before the fix, each rebuild read the state (its own directory's and, through
 * `/run/nslink.dirs`, the other's) and then replaced the table, unserialized: a process that
 * read before the other's new network was saved wrote a table without it, and the network
 * stayed without its chain (`in-BRIDGE`), isolation and masquerade until some later rebuild.
 * The same for a port published (`link()` with `ports`) in one directory while the other makes
 * a network: the rebuild read the endpoint before its addresses were saved, and replaced the
 * table after the port's map element was added, so the element was lost.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { exec, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { agentOffForTests } from "./_agent_helpers.ts";
import { setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const WORKER = join(dirname(fileURLToPath(import.meta.url)), "_fwrace_worker.ts");
const ROUNDS = 150;

let agentBack: () => void = () => {};
before(() => {
  agentBack = agentOffForTests();
});
after(() => agentBack());

/** A worker process: `send` a command, wait for its answer. */
function startWorker(args: string[]) {
  const argv = "Bun" in globalThis ? [WORKER, ...args] : ["run", "-A", WORKER, ...args];
  const p = spawn(process.execPath, argv, { stdio: ["pipe", "pipe", "inherit"] });
  const answers: string[] = [];
  const waiting: ((a: string) => void)[] = [];
  createInterface({ input: p.stdout! }).on("line", (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else answers.push(l);
  });
  const closed = new Promise<void>((r) => p.on("close", () => r()));
  return {
    send(command: string): void {
      p.stdin!.write(`${command}\n`);
    },
    answer(): Promise<string> {
      const a = answers.shift();
      return a !== undefined ? Promise.resolve(a) : new Promise((r) => waiting.push(r));
    },
    async end(): Promise<void> {
      p.stdin!.end();
      await closed;
    },
  };
}

/** nslink's table as `nft list` prints it (empty when there is none). */
async function tableText(): Promise<string> {
  const r = await exec(["nft", "list", "table", "inet", "nslink"]);
  return r.code === 0 ? r.stdout : "";
}

/** The names of the chains of nslink's table (none when there is no table). */
async function chains(): Promise<string[]> {
  const r = await exec(["nft", "-j", "list", "table", "inet", "nslink"]);
  if (r.code !== 0) return [];
  const json = JSON.parse(r.stdout) as { nftables: { chain?: { name: string } }[] };
  return json.nftables.flatMap((x) => (x.chain ? [x.chain.name] : []));
}

describe("firewall: concurrent rebuilds from two state directories", () => {
  it("networks made or deleted at the same moment in two state directories keep their rules", {
    skip: SKIP_ROOT,
    timeout: 300_000,
  }, async () => {
    await withCleanup(async (c) => {
      const dirs = [tempStateDir(), tempStateDir()];
      const tags = ["a", "b"];
      const workers = dirs.map((d, i) => startWorker([d, P, tags[i]]));
      c.defer("end the workers", async () => {
        for (const w of workers) await w.end();
      });
      const bridges = (i: number) => tags.map((t) => `${P}${t}${i.toString(16)}`);
      // The same command to both workers at once; both must succeed.
      const step = async (command: string) => {
        for (const w of workers) w.send(command);
        for (const a of await Promise.all(workers.map((w) => w.answer()))) {
          assert.equal(a, "ok", command);
        }
      };
      const missing: string[] = [];
      const stale: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // Two networks per round, so that both workers take turns making the internal one.
        const i = round % 2;
        for (const b of bridges(i)) c.link(b);
        await step(`create ${i}`);
        const made = await chains();
        for (const b of bridges(i)) if (!made.includes(`in-${b}`)) missing.push(`${round}: ${b}`);
        await step(`delete ${i}`);
        const left = await chains();
        for (const b of bridges(i)) if (left.includes(`in-${b}`)) stale.push(`${round}: ${b}`);
      }
      assert.deepEqual(missing, [], "networks made without their chain");
      assert.deepEqual(stale, [], "networks deleted with their chain left");
    });
  });

  it("a port published in one state directory while the other makes networks keeps its element", {
    skip: SKIP_ROOT,
    timeout: 300_000,
  }, async () => {
    await withCleanup(async (c) => {
      const dirs = [tempStateDir(), tempStateDir()];
      const [a, b] = dirs.map((d, i) => startWorker([d, P, "ab"[i]]));
      c.defer("end the workers", async () => {
        await a.end();
        await b.end();
      });
      c.link(`${P}bn`);
      b.send("net");
      assert.equal(await b.answer(), "ok");
      c.defer("delete the network of the links", async () => {
        b.send("rm");
        assert.equal(await b.answer(), "ok");
      });
      const lost: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const i = round % 2;
        c.link(`${P}a${i}`);
        // A rebuild from the first directory while the second publishes a port.
        a.send(`create ${i}`);
        b.send(`link ${i}`);
        assert.deepEqual([await a.answer(), await b.answer()], ["ok", "ok"]);
        const t = await tableText();
        if (!t.includes(` ${18000 + i} `)) lost.push(`${round}: port ${18000 + i}`);
        if (!t.includes(`chain in-${P}a${i} `)) lost.push(`${round}: chain in-${P}a${i}`);
        a.send(`delete ${i}`);
        b.send(`unlink ${i}`);
        assert.deepEqual([await a.answer(), await b.answer()], ["ok", "ok"]);
        if ((await tableText()).includes(` ${18000 + i} `)) {
          lost.push(`${round}: ${18000 + i} left`);
        }
      }
      assert.deepEqual(lost, [], "published ports or chains lost (or left) by a rebuild");
    });
  });
});
