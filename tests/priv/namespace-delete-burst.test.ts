/**
 * `Namespace.delete()` in a burst (issue 21): each call unmounts and removes its namespace
 * before it returns, and the handles (the namespace fd, the netlink socket inside) are closed at
 * the next turn of the event loop, so that the kernel tears the burst down after the calls
 * instead of during the next `umount2`. How many namespaces' handles may wait is bounded by the
 * process's limit on open files (`deferredCloseLimit`: 64 under a limit of 512, 128 under the
 * common 1024). Checked independently: no name, no mount and no open fd of any of them is left,
 * and the kernel really destroys them (the host ends of their veths go, which a handle left open
 * would prevent).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { type Namespace, newNetworkNamespace, Rtnl } from "../../mod.ts";
import { deferredCloseLimit } from "../../network/namespace.ts";
import { ipLinks, ipNetnsNames, nsfsMounts, runId, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { waitFor } from "./_network_helpers.ts";
import { openNamespaceInodes } from "./_ns_fds.ts";

const P = runId();
const WORKER = join(dirname(fileURLToPath(import.meta.url)), "_burst_worker.ts");

/** This process's soft limit on open files. */
function softNoFile(): number {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n")
    .find((l) => l.startsWith("Max open files"))!;
  const soft = line.slice("Max open files".length).trim().split(/\s+/)[0];
  return soft === "unlimited" ? Infinity : Number(soft);
}

describe("Namespace.delete() in a burst", () => {
  it("closes the handles after the burst, and leaves no name, mount or fd behind", {
    skip: SKIP_ROOT,
    timeout: 120_000,
  }, async () => {
    const n = 70;
    const cap = deferredCloseLimit(softNoFile());
    await withCleanup(async (c) => {
      using host = Rtnl.open();
      const nss: Namespace[] = [];
      const inodes: number[] = [];
      for (let i = 0; i < n; i++) {
        const path = `/run/netns/${P}b${i}`;
        c.netns(path);
        const ns = await newNetworkNamespace(path);
        nss.push(ns);
        inodes.push(statSync(path).ino);
        c.link(`${P}h${i}`);
        host.link.add({ kind: "veth", name: `${P}h${i}`, peer: { name: "eth0", netns: ns.netns } });
        ns.rtnl().link.set("eth0", { up: true }); // the netlink socket inside is open too
      }
      assert.equal((await ipLinks()).filter((l) => l.ifname.startsWith(`${P}h`)).length, n);

      for (const ns of nss) await ns.delete();

      // Before the event loop turns (nothing awaited here does): every mount is gone; all the
      // handles wait when the process's limit allows 70 (it does from a limit of 560 on).
      const open = openNamespaceInodes();
      const waiting = inodes.filter((ino) => open.has(ino)).length;
      if (n < cap) assert.equal(waiting, n, "every handle closed after the burst, none during it");
      else assert.ok(waiting < cap, `${waiting} of ${n} namespaces' fds still open (bound ${cap})`);
      assert.deepEqual(nsfsMounts().filter((m) => m.startsWith(`/run/netns/${P}b`)), []);
      assert.deepEqual((await ipNetnsNames()).filter((name) => name.startsWith(`${P}b`)), []);

      await new Promise((ok) => setTimeout(ok, 0));
      const after = openNamespaceInodes();
      assert.deepEqual(inodes.filter((ino) => after.has(ino)), [], "no namespace fd left open");
      for (const ns of nss) {
        assert.equal(ns.netns.fd, -1);
        assert.throws(() => ns.rtnl(), /is closed/);
      }
      // The kernel destroys the namespaces (nothing holds them): their veths go with them.
      assert.ok(
        await waitFor(
          async () => !(await ipLinks()).some((l) => l.ifname.startsWith(`${P}h`)),
          10_000,
        ),
        "host ends of the deleted namespaces' veths gone",
      );
    });
  });

  it("keeps at most 64 namespaces' handles waiting under a limit of 512 open files", {
    skip: SKIP_ROOT,
    timeout: 120_000,
  }, async () => {
    assert.equal(deferredCloseLimit(512), 64);
    const n = 70;
    await withCleanup(async (c) => {
      for (let i = 0; i < n; i++) c.netns(`/run/netns/${P}w${i}`);
      const runtime = "Bun" in globalThis ? [WORKER] : ["run", "-A", WORKER];
      const argv = ["--nofile=512:512", "--", process.execPath, ...runtime, `${P}w`, String(n)];
      const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
        (ok) => {
          const child = spawn("prlimit", argv, { stdio: ["ignore", "pipe", "pipe"] });
          let stdout = "";
          let stderr = "";
          child.stdout.on("data", (d) => (stdout += d));
          child.stderr.on("data", (d) => (stderr += d));
          child.on("close", (code) => ok({ code, stdout, stderr }));
        },
      );
      assert.equal(out.code, 0, out.stderr);
      const { waiting, after } = JSON.parse(out.stdout.trim().split("\n").pop()!);
      // The 64th deletion closed the first 64; the last 6 wait for the event loop.
      assert.equal(waiting, n - 64);
      assert.equal(after, 0);
      assert.deepEqual(readdirSync("/run/netns").filter((name) => name.startsWith(`${P}w`)), []);
    });
  });
});
