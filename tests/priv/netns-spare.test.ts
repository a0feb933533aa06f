/**
 * Spare namespaces (issue 21, netns/spare.ts): a worker thread makes namespaces ahead (unshare,
 * `lo` up, a netlink socket there), and `newNetworkNamespace` then only creates the file and
 * bind-mounts a spare onto it. What it makes must be what the inline path makes (the file, the
 * mount and its propagation, `lo` up, a handle bound inside, the same errors); a spare dies with
 * the process, also on kill -9; the worker never keeps a process alive. The system calls of
 * both paths are held to a budget.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { NetNs, newNetworkNamespace } from "../../mod.ts";
import { SCHED_IDLE } from "../../ffi/libc.ts";
import {
  SPARE_START_AT,
  spareNetnsState,
  startSpareNetns,
  stopSpareNetns,
} from "../../netns/spare.ts";
import { ipJson, ipNetnsNames, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile } from "./_network_helpers.ts";
import { libcCalls } from "../unit/_libc_calls.ts";

const { prefix: P } = setUpNetworkTestFile();
const CHILD = join(dirname(fileURLToPath(import.meta.url)), "_spare_child.ts");

/** Inline: the file (open, close), the thread's way out and back (open, unshare, setns, close),
 * the mount, the netlink socket (socket, 3 setsockopt, bind, getsockname), `lo` up (sendto,
 * recvfrom) and the namespace's fd (open). */
const INLINE_BUDGET = 16;
/** From a spare: the file (open, close) and the mount. */
const SPARE_BUDGET = 3;

after(() => stopSpareNetns());

async function spareReady(n = 1): Promise<void> {
  const until = Date.now() + 15_000;
  while (spareNetnsState().ready < n) {
    const s = spareNetnsState();
    if (Date.now() > until || (!s.running && s.disabled)) {
      throw new Error(`no spare namespace ready: ${JSON.stringify(s)}`);
    }
    await new Promise((ok) => setTimeout(ok, 5));
  }
}

/** The fields of a mount's line in mountinfo that say what it is, without its ids. */
function mountShape(path: string): string {
  const line = readFileSync("/proc/self/mountinfo", "utf8").split("\n")
    .find((l) => l.split(" ")[4] === path);
  assert.ok(line, `${path} is mounted`);
  const f = line.split(" ");
  const sep = f.indexOf("-");
  // options, optional fields (shared:N, master:N: numbers dropped), fs type, source, super options
  return [f[5], ...f.slice(6, sep).map((o) => o.replace(/\d+/g, "N")), ...f.slice(sep + 1)]
    .join(" ");
}

/** The scheduling policy of each thread of this process (`stat` field 41). */
function threadPolicies(): number[] {
  return readdirSync("/proc/self/task").map((t) => {
    try {
      const stat = readFileSync(`/proc/self/task/${t}/stat`, "utf8");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[41 - 3]);
    } catch {
      return -1; // the thread ended meanwhile
    }
  });
}

/** The `net:[INODE]` of every namespace a process holds through an fd. */
function heldNetns(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const l = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (l.startsWith("net:[")) out.add(l);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

/** Every reference to a namespace userspace can see: fds and threads of all processes, mounts. */
function referencesTo(ids: Set<string>): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    const links: string[] = [];
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) links.push(`/proc/${pid}/fd/${fd}`);
      for (const t of readdirSync(`/proc/${pid}/task`)) links.push(`/proc/${pid}/task/${t}/ns/net`);
    } catch { /* gone */ }
    for (const l of links) {
      try {
        if (ids.has(readlinkSync(l))) found.push(l);
      } catch { /* gone */ }
    }
  }
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const root = line.split(" ")[3];
    if (root && ids.has(root)) found.push(`mount ${line}`);
  }
  return found;
}

function runChild(mode: "exit" | "hold", path: string) {
  const argv = "Bun" in globalThis ? [CHILD, mode, path] : ["run", "-A", CHILD, mode, path];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: string | null }>((ok) =>
    child.on("exit", (code, signal) => ok({ code, signal }))
  );
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe("spare namespaces", () => {
  it(
    `newNetworkNamespace makes at most ${INLINE_BUDGET} system calls inline and ${SPARE_BUDGET} from a spare, and both make the same namespace`,
    {
      skip: SKIP_ROOT,
      timeout: 60_000,
    },
    async () => {
      await withCleanup(async (c) => {
        await stopSpareNetns();
        // The process's first namespace also makes /run/netns a shared mount: not per namespace.
        const w = `/run/netns/${P}w`;
        c.netns(w);
        (await newNetworkNamespace(w)).close();
        const a = `/run/netns/${P}a`;
        const b = `/run/netns/${P}b`;
        c.netns(a);
        c.netns(b);
        let inline: Awaited<ReturnType<typeof newNetworkNamespace>> | undefined;
        const inlineCalls = await libcCalls(async () => {
          inline = await newNetworkNamespace(a);
        });
        c.defer("close a", () => inline!.close());
        assert.ok(
          inlineCalls.length <= INLINE_BUDGET,
          `inline: ${inlineCalls.length} system calls (budget ${INLINE_BUDGET}): ${
            inlineCalls.join(" ")
          }`,
        );
        assert.ok(inlineCalls.includes("unshare"));

        assert.equal(await startSpareNetns(), true);
        await spareReady();
        // The worker runs only on idle CPUs: one thread of this process is SCHED_IDLE.
        assert.ok(threadPolicies().includes(SCHED_IDLE), `policies ${threadPolicies()}`);
        let spare: Awaited<ReturnType<typeof newNetworkNamespace>> | undefined;
        const spareCalls = await libcCalls(async () => {
          spare = await newNetworkNamespace(b);
        });
        c.defer("close b", () => spare!.close());
        assert.ok(
          spareCalls.length <= SPARE_BUDGET,
          `from a spare: ${spareCalls.length} system calls (budget ${SPARE_BUDGET}): ${
            spareCalls.join(" ")
          }`,
        );
        assert.ok(!spareCalls.includes("unshare"), "no unshare on the calling thread");

        // The same namespace, seen independently: listed by ip netns, the same kind of mount with
        // the same propagation, lo up; the object's fd is of the namespace at the path.
        const names = await ipNetnsNames();
        assert.ok(names.includes(`${P}a`) && names.includes(`${P}b`), names.join(" "));
        assert.equal(mountShape(b), mountShape(a));
        for (const name of [`${P}a`, `${P}b`]) {
          const [lo] = await ipJson<{ ifname: string; flags: string[] }[]>(
            ["-n", name, "link", "show", "lo"],
          );
          assert.ok(lo.flags.includes("UP"), `${name}: lo ${lo.flags.join(",")}`);
        }
        assert.equal(
          readlinkSync(`/proc/self/fd/${spare!.netns.fd}`),
          `net:[${statSync(b).ino}]`,
        );
        assert.notEqual(statSync(a).ino, statSync(b).ino);
        // Its handle is bound inside: what it makes shows up there.
        assert.deepEqual(spare!.rtnl().link.list().map((l) => l.name), ["lo"]);
        spare!.rtnl().link.add({ kind: "veth", name: `${P}x`, peer: { name: `${P}y` } });
        const inB = await ipJson<{ ifname: string }[]>(["-n", `${P}b`, "link", "show"]);
        assert.deepEqual(inB.map((l) => l.ifname).sort(), ["lo", `${P}x`, `${P}y`].sort());

        await spare!.delete();
        await inline!.delete();
        const left = await ipNetnsNames();
        assert.ok(!left.includes(`${P}a`) && !left.includes(`${P}b`), left.join(" "));
      });
    },
  );

  it("refuses a taken path with EEXIST as the inline path does, leaving it alone", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      const path = `/run/netns/${P}e`;
      c.netns(path);
      writeFileSync(path, "x");
      const messages: string[] = [];
      for (const withSpare of [false, true]) {
        await stopSpareNetns();
        if (withSpare) {
          await startSpareNetns();
          await spareReady();
        }
        const err = await newNetworkNamespace(path).then(() => undefined, (e) => e);
        assert.ok(err, "refused");
        assert.equal((err as { code?: string }).code, "EEXIST");
        messages.push(String((err as Error).message));
        assert.equal(readFileSync(path, "utf8"), "x", "left alone");
      }
      assert.equal(messages[1], messages[0]);
      assert.match(messages[0], /already exists/);
    });
  });

  it(
    `starts by itself at the ${SPARE_START_AT}rd namespace with NSLINK_SPARE_NETNS=on only, never by default or with off`,
    {
      skip: SKIP_ROOT,
      timeout: 60_000,
    },
    async () => {
      const saved = process.env.NSLINK_SPARE_NETNS;
      try {
        for (const setting of [undefined, "off", "on"]) {
          await withCleanup(async (c) => {
            if (setting === undefined) delete process.env.NSLINK_SPARE_NETNS;
            else process.env.NSLINK_SPARE_NETNS = setting;
            await stopSpareNetns();
            for (let i = 0; i < SPARE_START_AT - 1; i++) {
              const path = `/run/netns/${P}s${i}`;
              c.netns(path);
              const ns = await newNetworkNamespace(path);
              c.defer(`close ${path}`, () => ns.close());
              assert.equal(spareNetnsState().running, false, `before the ${i + 1}th`);
            }
            // The worker starts with the next one, which is made inline.
            const path = `/run/netns/${P}s${SPARE_START_AT}`;
            c.netns(path);
            const ns = await newNetworkNamespace(path);
            c.defer(`close ${path}`, () => ns.close());
            const expected = setting === "on";
            if (expected) await spareReady();
            // Started, it would run once its module is imported (a few ms).
            else await new Promise((ok) => setTimeout(ok, 300));
            assert.equal(spareNetnsState().running, expected, JSON.stringify(spareNetnsState()));
          });
        }
      } finally {
        if (saved === undefined) delete process.env.NSLINK_SPARE_NETNS;
        else process.env.NSLINK_SPARE_NETNS = saved;
        await stopSpareNetns();
      }
    },
  );

  it("NetNs.attach of an fd that is not open fails naming the path, and leaves no file", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup((c) => {
      const path = `/run/netns/${P}f`;
      c.netns(path);
      assert.throws(
        () => NetNs.attach(path, 1_000_000),
        (e: Error & { code?: string }) =>
          e.code === "ENOENT" && e.message.includes(JSON.stringify(path)),
      );
      assert.equal(existsSync(path), false);
    });
  });

  it("a process with the worker running ends normally when its work is done", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      const path = `/run/netns/${P}x`;
      c.netns(path);
      const run = runChild("exit", path);
      const guard = setTimeout(() => run.child.kill("SIGKILL"), 30_000);
      const exit = await run.exited;
      clearTimeout(guard);
      assert.deepEqual(exit, { code: 0, signal: null }, run.err());
      assert.match(run.out(), /"done":true/);
      assert.ok(!(await ipNetnsNames()).includes(`${P}x`));
    });
  });

  it("spares die with the process on kill -9: nothing holds or shows them afterwards", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    await withCleanup(async (c) => {
      const path = `/run/netns/${P}k`;
      c.netns(path);
      const before = await ipNetnsNames();
      const run = runChild("hold", path);
      const guard = setTimeout(() => run.child.kill("SIGKILL"), 30_000);
      const until = Date.now() + 25_000;
      while (!run.out().includes("holding") && Date.now() < until) {
        await new Promise((ok) => setTimeout(ok, 20));
      }
      assert.match(run.out(), /"holding":2/, run.err());
      // The child holds its mounted namespace's fd and the two spares'.
      const mounted = `net:[${statSync(path).ino}]`;
      const held = heldNetns(run.child.pid!);
      held.delete(mounted);
      assert.equal(held.size, 2, [...held].join(" "));
      assert.deepEqual(
        referencesTo(held).filter((r) => !r.startsWith(`/proc/${run.child.pid}/`)),
        [],
      );
      run.child.kill("SIGKILL");
      assert.equal((await run.exited).signal, "SIGKILL");
      clearTimeout(guard);
      // Nothing refers to the spares any more (they are gone with their last reference), and
      // ip netns lists only what was mounted.
      assert.deepEqual(referencesTo(held), []);
      assert.deepEqual(
        (await ipNetnsNames()).filter((n) => !before.includes(n)),
        [`${P}k`],
      );
    });
  });
});
