/**
 * Privileged tests of the host agent's early answer to a CNI DEL that removes the network ADD
 * created (cni/serve.ts, `whenDeleteCommitted` in network/lifecycle.ts): the agent answers once
 * the container's interfaces are gone and the network's delete is committed (its record says
 * `deleting`), and removes the bridge, firewall and state after the answer. Between the two the
 * network is gone for every reader; an ADD of the same network then waits for the removal and
 * makes it again; a kill -9 of the agent in that window leaves a delete that `gc()` or the next
 * ADD finishes. The window is made long by `_cni_early_worker.ts`, which serves the DEL as the
 * agent does and stops before the bridge's delete until the test releases or kills it.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { gc, listNetworks, openNetwork } from "../../mod.ts";
import { ip, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { readRecord, setUpNetworkTestFile, tempStateDir, waitFor } from "./_network_helpers.ts";
import { cniConf } from "./_cni_setup.ts";
import { ipJsonAt, nslinkArgv, runProcess } from "./_cli_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const WORKER = join(dirname(fileURLToPath(import.meta.url)), "_cni_early_worker.ts");

/** The CNI variables of one attachment (no agent: every call does its work itself). */
function cniEnv(command: string, containerId: string, netns: string, stateDir: string) {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: containerId,
    CNI_NETNS: netns,
    CNI_IFNAME: "eth0",
    CNI_PATH: "/usr/lib/cni",
    NSLINK_STATE_DIR: stateDir,
    NSLINK_AGENT: "off",
  };
}

/** One exec of the plugin, in-process (`NSLINK_AGENT=off`). */
function exec(command: string, net: string, id: string, netns: string, stateDir: string) {
  return runProcess(nslinkArgv(), {
    env: cniEnv(command, id, netns, stateDir),
    input: JSON.stringify(cniConf(net)),
  });
}

async function addNetns(c: { netns(n: string): void }, name: string): Promise<string> {
  c.netns(name);
  const r = await ip(["netns", "add", name]);
  assert.equal(r.code, 0, r.stderr);
  return `/run/netns/${name}`;
}

async function linkExists(name: string): Promise<boolean> {
  return (await ip(["link", "show", name])).code === 0;
}

/** The DEL served as the agent does, stopped before the bridge's delete. */
function startWorker(
  net: string,
  id: string,
  netns: string,
  stateDir: string,
): {
  dir: string;
  child: ChildProcess;
  closed: Promise<number | string | null>;
  out: () => string;
} {
  const dir = mkdtempSync(join(tmpdir(), "nsl-early-"));
  const runtime = "Bun" in globalThis ? [process.execPath] : [process.execPath, "run", "-A"];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  const child = spawn(runtime[0], [...runtime.slice(1), WORKER, dir, `nsl-${net}`], {
    env: { ...env, ...cniEnv("DEL", id, netns, stateDir) },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const closed = new Promise<number | string | null>((r) =>
    child.on("close", (code, signal) => r(signal ?? code))
  );
  child.stdin!.end(JSON.stringify(cniConf(net)));
  return { dir, child, closed, out: () => out };
}

/** Waits until the worker has answered and stopped before the bridge's delete. */
async function inWindow(w: ReturnType<typeof startWorker>): Promise<Record<string, unknown>> {
  const paused = await waitFor(() => existsSync(`${w.dir}/paused`), 30_000);
  assert.ok(paused, `the DEL never reached the bridge's delete: ${w.out()}`);
  // Stopped before the bridge's delete: an answer now came before the bridge went.
  const answered = await waitFor(() => existsSync(`${w.dir}/answer`), 5_000);
  assert.ok(answered, "no answer before the bridge's delete");
  return JSON.parse(readFileSync(`${w.dir}/answer`, "utf8"));
}

/** Checks the window: answered success, container empty, bridge there, network gone. */
async function assertWindow(
  answer: Record<string, unknown>,
  net: string,
  netns: string,
  state: string,
): Promise<void> {
  assert.equal(answer.ok, true);
  assert.equal(answer.status, 0);
  assert.equal(answer.out, "");
  const inside = await ipJsonAt<{ ifname: string }[]>(netns, ["link"]);
  assert.deepEqual(inside.map((l) => l.ifname), ["lo"], "the container's eth0 is still there");
  assert.ok(await linkExists(`nsl-${net}`), "the bridge went before the answer");
  assert.equal(readRecord(state, net)?.state, "deleting");
  assert.ok(!listNetworks({ stateDir: state }).includes(net), "listed while being deleted");
  await assert.rejects(openNetwork(net, { stateDir: state }), /does not exist/);
}

describe("host agent: the last DEL answers once the network's delete is committed", {
  skip: SKIP_ROOT,
}, () => {
  it("answers before the bridge is removed, then finishes the removal", {
    timeout: 120_000,
  }, async () => {
    const state = tempStateDir();
    const net = `${P}a`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}a1`);
      const add = await exec("ADD", net, `${P}a1`, netns, state);
      assert.equal(add.code, 0, add.stdout + add.stderr);
      const w = startWorker(net, `${P}a1`, netns, state);
      c.defer("worker", () => {
        w.child.kill("SIGKILL");
        rmSync(w.dir, { recursive: true, force: true });
      });
      await assertWindow(await inWindow(w), net, netns, state);
      writeFileSync(`${w.dir}/go`, "");
      assert.equal(await w.closed, 0, w.out());
      assert.equal(JSON.parse(readFileSync(`${w.dir}/final`, "utf8")).status, 0);
      assert.equal(await linkExists(`nsl-${net}`), false, "the bridge is still there");
      assert.equal(readRecord(state, net), undefined);
      assert.ok(!listNetworks({ stateDir: state }).includes(net));
    });
  });

  it("an ADD of the same network in the window waits, then makes it again and keeps it", {
    timeout: 120_000,
  }, async () => {
    const state = tempStateDir();
    const net = `${P}b`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const ns1 = await addNetns(c, `${P}b1`);
      const ns2 = await addNetns(c, `${P}b2`);
      assert.equal((await exec("ADD", net, `${P}b1`, ns1, state)).code, 0);
      const old = readRecord(state, net)?.id;
      const w = startWorker(net, `${P}b1`, ns1, state);
      c.defer("worker", () => {
        w.child.kill("SIGKILL");
        rmSync(w.dir, { recursive: true, force: true });
      });
      await assertWindow(await inWindow(w), net, ns1, state);
      // The ADD waits for the state lock, which the removal holds.
      const adding = exec("ADD", net, `${P}b2`, ns2, state);
      await new Promise((r) => setTimeout(r, 300));
      writeFileSync(`${w.dir}/go`, "");
      const add = await adding;
      assert.equal(add.code, 0, add.stdout + add.stderr);
      assert.equal(await w.closed, 0, w.out());
      assert.equal(JSON.parse(readFileSync(`${w.dir}/final`, "utf8")).status, 0);
      // A new network of that name, kept with its container.
      const now = await openNetwork(net, { stateDir: state });
      assert.notEqual(now.id, old);
      assert.deepEqual(now.endpoints().length, 1);
      assert.ok(await linkExists(`nsl-${net}`), "the new network's bridge is missing");
      const addrs = await ipJsonAt<{ addr_info: { local: string; scope: string }[] }[]>(ns2, [
        "addr",
        "show",
        "eth0",
      ]);
      assert.deepEqual(
        addrs[0].addr_info.filter((a) => a.scope === "global").map((a) => a.local).sort(),
        ["198.51.100.2", "2001:db8:1::2"],
      );
      assert.equal((await exec("DEL", net, `${P}b2`, ns2, state)).code, 0);
      assert.equal(await linkExists(`nsl-${net}`), false);
    });
  });

  it("killed -9 in the window: the next ADD, or gc(), finishes the removal", {
    timeout: 120_000,
  }, async () => {
    for (const finish of ["ADD", "gc"] as const) {
      const state = tempStateDir();
      const net = `${P}k${finish === "gc" ? "g" : "a"}`;
      await withCleanup(async (c) => {
        c.link(`nsl-${net}`);
        const ns1 = await addNetns(c, `${net}1`);
        const ns2 = await addNetns(c, `${net}2`);
        assert.equal((await exec("ADD", net, `${net}1`, ns1, state)).code, 0);
        const old = readRecord(state, net)?.id;
        const w = startWorker(net, `${net}1`, ns1, state);
        c.defer("worker", () => rmSync(w.dir, { recursive: true, force: true }));
        await assertWindow(await inWindow(w), net, ns1, state);
        w.child.kill("SIGKILL");
        assert.equal(await w.closed, "SIGKILL");
        // Left as the kill found it: gone for readers, its bridge still there.
        assert.equal(readRecord(state, net)?.state, "deleting");
        assert.ok(!listNetworks({ stateDir: state }).includes(net));
        assert.ok(await linkExists(`nsl-${net}`), `${finish}: the bridge went with the kill`);
        if (finish === "gc") {
          await gc({ stateDir: state });
          assert.equal(await linkExists(`nsl-${net}`), false, "gc left the bridge");
          assert.equal(readRecord(state, net), undefined, "gc left the record");
        }
        // The same network made again by an ADD, and removed with its last DEL.
        const add = await exec("ADD", net, `${net}2`, ns2, state);
        assert.equal(add.code, 0, add.stdout + add.stderr);
        assert.notEqual(readRecord(state, net)?.id, old);
        assert.equal(readRecord(state, net)?.state ?? "ready", "ready");
        assert.ok(await linkExists(`nsl-${net}`));
        assert.equal((await exec("DEL", net, `${net}2`, ns2, state)).code, 0);
        assert.equal(await linkExists(`nsl-${net}`), false);
        assert.equal(readRecord(state, net), undefined);
      });
    }
  });
});
