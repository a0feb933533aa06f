/**
 * The firewall from the command line: `nslink network reload` after a flush, and another
 * table's forward drop reported by `nslink network inspect`, `nslink gc --dry-run` and
 * `nslink network reload`. Each command runs as a process (the runtime running the tests, or
 * `dist/nslink` with `NSLINK_BIN`).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import { spawn } from "node:child_process";
import process from "node:process";
import assert from "node:assert/strict";
import { agentOffForTests } from "./_agent_helpers.ts";
import { exec, runId, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { nft } from "./_nft_helpers.ts";
import { removeStateDirs, tempStateDir, waitFor } from "./_network_helpers.ts";
import { nslink, nslinkArgv, nslinkJson } from "./_cli_helpers.ts";

const P = runId();

// No host agent (the CLI processes inherit the variable): its firewall duty would put back at
// once the table these tests flush to watch `network reload` do it.
let agentBack = () => {};
before(() => void (agentBack = agentOffForTests()));
after(() => {
  agentBack();
  removeStateDirs();
});

async function table(): Promise<string | undefined> {
  const r = await exec(["nft", "list", "table", "inet", "nslink"]);
  return r.code === 0 ? r.stdout : undefined;
}

describe("nslink network reload", { skip: SKIP_ROOT }, () => {
  it("re-applies the table after nft flush ruleset, identical, idempotently; --help says what it does", async () => {
    const state = tempStateDir();
    const name = `${P}r1`;
    await withCleanup(async (c) => {
      c.link(`nsl-${name}`);
      const help = await nslink(state, "network", "reload", "--help");
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /^Usage: nslink network reload/);
      assert.match(help.stdout, /Re-apply the firewall/);
      assert.match((await nslink(state, "network", "--help")).stdout, /reload/);
      const created = await nslink(
        state,
        "network",
        "create",
        "--subnet",
        "198.51.100.0/24",
        name,
      );
      assert.equal(created.code, 0, created.stderr);
      c.defer("rm network", async () => {
        await nslink(state, "network", "rm", "-f", name);
      });
      const before = await table();
      assert.ok(before?.includes(`nsl-${name}`), before);
      await nft("flush", "ruleset");
      assert.equal(await table(), undefined);
      const r = await nslink(state, "network", "reload");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "reloaded the firewall of 1 network(s)\n");
      assert.equal(await table(), before);
      const again = await nslinkJson<{ networks: string[]; firewalld: boolean }>(
        state,
        "network",
        "reload",
        "--all",
      );
      assert.deepEqual(again, { networks: [name], firewalld: false, warnings: [] });
      assert.equal(await table(), before);
      assert.equal((await nslink(state, "network", "reload", "extra")).code, 2);
      assert.equal((await nslink(state, "network", "rm", name)).code, 0);
      // No network left: reload makes sure the table is gone.
      assert.equal((await nslink(state, "network", "reload")).code, 0);
      assert.equal(await table(), undefined);
    });
  });
});

describe("another table's forward drop", { skip: SKIP_ROOT }, () => {
  it("is reported by network inspect (Warnings), gc --dry-run (a line) and network reload (stderr)", async () => {
    const state = tempStateDir();
    const name = `${P}w1`;
    const drop = `${P}f`;
    await withCleanup(async (c) => {
      c.link(`nsl-${name}`);
      const created = await nslink(state, "network", "create", "--subnet", "203.0.113.0/24", name);
      assert.equal(created.code, 0, created.stderr);
      c.defer("rm network", async () => {
        await nslink(state, "network", "rm", "-f", name);
      });
      // None yet.
      const [clean] = await nslinkJson<{ Warnings?: string[] }[]>(
        state,
        "network",
        "inspect",
        name,
      );
      assert.equal(clean.Warnings, undefined);
      const dryClean = await nslink(state, "gc", "--dry-run");
      assert.doesNotMatch(dryClean.stdout, /warning/);

      // iptables-nft's `iptables -P FORWARD DROP`, as Docker sets it.
      c.defer("delete drop table", async () => {
        await exec(["nft", "delete", "table", "ip", drop]);
      });
      await nft("add", "table", "ip", drop);
      await nft(
        "add",
        "chain",
        "ip",
        drop,
        "FORWARD",
        "{ type filter hook forward priority 0; policy drop; }",
      );
      const chain = `table ip ${drop} chain FORWARD`;
      const [w] = await nslinkJson<{ Warnings?: string[] }[]>(state, "network", "inspect", name);
      assert.equal(w.Warnings?.length, 1, JSON.stringify(w));
      assert.match(w.Warnings![0], new RegExp(`^${chain} has policy drop on the forward hook`));
      const dry = await nslink(state, "gc", "--dry-run");
      assert.equal(dry.code, 0, dry.stderr);
      assert.ok(
        dry.stdout.split("\n").some((l) => l.startsWith(`warning: ${chain} has policy drop`)),
        dry.stdout,
      );
      const dryJson = await nslinkJson<{ warnings?: string[] }>(state, "gc", "--dry-run");
      assert.equal(dryJson.warnings?.length, 1);
      const reload = await nslink(state, "network", "reload");
      assert.equal(reload.code, 0, reload.stderr);
      assert.match(reload.stderr, new RegExp(`nslink: warning: ${chain} has policy drop`));

      await nft("delete", "table", "ip", drop);
      const [gone] = await nslinkJson<{ Warnings?: string[] }[]>(state, "network", "inspect", name);
      assert.equal(gone.Warnings, undefined);
      assert.equal((await nslink(state, "network", "rm", name)).code, 0);
    });
  });
});

describe("nslink network reload --watch", { skip: SKIP_ROOT }, () => {
  it("repairs after another process's flush or element deletion, not after other nslink commands; stops on SIGTERM", async () => {
    const state = tempStateDir();
    const name = `${P}r2`;
    const ns = `${P}c2`;
    await withCleanup(async (c) => {
      c.link(`nsl-${name}`);
      c.netns(ns);
      const created = await nslink(state, "network", "create", "--subnet", "198.51.100.0/24", name);
      assert.equal(created.code, 0, created.stderr);
      c.defer("rm network", async () => {
        await nslink(state, "network", "rm", "-f", name);
      });
      assert.equal((await nslink(state, "netns", "add", ns)).code, 0);
      const connect = await nslink(
        state,
        "network",
        "connect",
        name,
        "c1",
        "--netns",
        ns,
        "-p",
        "8080:80",
      );
      assert.equal(connect.code, 0, connect.stderr);
      c.defer("disconnect c1", async () => {
        await nslink(state, "network", "disconnect", name, "c1");
      });
      const before = await table();

      const argv = nslinkArgv();
      const child = spawn(argv[0], [...argv.slice(1), "network", "reload", "--watch"], {
        env: { ...process.env, NSLINK_STATE_DIR: state },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
      const exited = new Promise<number | null>((r) => child.once("exit", (x) => r(x)));
      c.defer("stop the watcher", async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGKILL");
          await exited;
        }
      });
      assert.ok(await waitFor(() => err.includes("watching nf_tables events"), 20_000), err);
      const repaired = () => out.split("\n").filter((l) => l.startsWith("repaired"));

      await nft("flush", "ruleset");
      assert.ok(await waitFor(() => repaired().length === 1, 10_000), out + err);
      assert.ok(await waitFor(async () => (await table()) === before, 5_000));
      assert.deepEqual(repaired(), ["repaired (table, 1 batch)"]);

      // Other nslink processes' commits (a published port added and removed) are not damage;
      // a foreign element deletion after them is the next and only repair.
      const c2 = await nslink(
        state,
        "network",
        "connect",
        name,
        "c2",
        "--netns",
        ns,
        "-p",
        "8081:81",
      );
      assert.equal(c2.code, 0, c2.stderr);
      assert.equal((await nslink(state, "network", "disconnect", name, "c2")).code, 0);
      await nft("delete", "element", "inet", "nslink", "pub4", "{ tcp . 8080 }");
      assert.ok(await waitFor(() => repaired().length === 2, 10_000), out + err);
      assert.ok(await waitFor(async () => (await table()) === before, 5_000));
      assert.deepEqual(repaired(), ["repaired (table, 1 batch)", "repaired (elements, 1 batch)"]);

      child.kill("SIGTERM");
      const code = await exited;
      // Deno's child_process reports a child it sent SIGTERM as killed by it even when the
      // child handled it and exited 0 (as in overlay.test.ts); "stopped" says it did.
      assert.ok(
        code === 0 || (code === null && child.signalCode === "SIGTERM"),
        `exit ${code} ${child.signalCode}: ${err}`,
      );
      assert.match(out, /stopped\n$/);
      assert.equal((await nslink(state, "network", "disconnect", name, "c1")).code, 0);
      assert.equal((await nslink(state, "network", "rm", name)).code, 0);
      assert.equal((await nslink(state, "netns", "rm", ns)).code, 0);
    });
  });
});
