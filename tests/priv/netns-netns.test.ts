/**
 * Privileged tests of `NetNs`: named and path-mounted namespaces, `EEXIST` that leaves the
 * original alone, deletion, `openPid`, `run()` (restores the thread's namespace, refuses
 * promises), `Symbol.dispose`, and that a test failing midway leaves nothing behind.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import process from "node:process";
import { NetlinkError, NetNs, Rtnl, SyscallError } from "../../mod.ts";
import {
  assertNoLeftovers,
  exec,
  ipJson,
  type IpLink,
  ipLink,
  ipNetnsNames,
  isRoot,
  leftovers,
  netnsId,
  netnsIdOfFd,
  nsfsMounts,
  runId,
  SKIP_ROOT,
  withCleanup,
} from "./_helpers.ts";

const P = runId();

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

describe("NetNs: create, open, delete", () => {
  it("creates /run/netns/NAME, visible to ip netns list, and deletes it", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const name = `${P}n1`;
      const ns = c.namespace(name);
      assert.equal(ns.path, `/run/netns/${name}`);
      assert.ok(ns.fd >= 0);
      assert.ok((await ipNetnsNames()).includes(name));
      assert.ok(NetNs.list().includes(name));
      assert.equal(NetNs.exists(name), true);
      assert.equal(NetNs.exists(`/run/netns/${name}`), true);
      assert.ok(nsfsMounts().includes(`/run/netns/${name}`));
      assert.notEqual(netnsIdOfFd(ns.fd), netnsId(), "a new namespace, not ours");
      // a fresh namespace holds only lo, down
      const links = await ipJson<IpLink[]>(["-n", name, "link", "show"]);
      assert.deepEqual(links.map((l) => l.ifname), ["lo"]);
      ns.delete();
      assert.equal(ns.fd, -1);
      assert.equal((await ipNetnsNames()).includes(name), false);
      assert.equal(NetNs.exists(name), false);
      assert.equal(nsfsMounts().includes(`/run/netns/${name}`), false);
    });
  });

  it("creates a namespace at a custom path and opens it again", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const path = `/run/${P}-custom/sub/ns1`;
      c.defer("rm dir", () => rmSync(`/run/${P}-custom`, { recursive: true, force: true }));
      c.netns(path); // runs first: unmount before removing the directory
      const ns = NetNs.create(path);
      c.close(ns);
      assert.equal(ns.path, path);
      assert.ok(nsfsMounts().includes(path));
      assert.equal(NetNs.exists(path), true);
      assert.equal(NetNs.list().includes("ns1"), false, "not under /run/netns");
      const r = await exec(["nsenter", `--net=${path}`, "ip", "-j", "link", "show"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as IpLink[]).map((l) => l.ifname), ["lo"]);
      {
        using again = NetNs.open(path);
        assert.equal(netnsIdOfFd(again.fd), netnsIdOfFd(ns.fd));
        using rt = Rtnl.open({ netns: again });
        rt.link.set("lo", { up: true });
      }
      const r2 = await exec(["nsenter", `--net=${path}`, "ip", "-j", "link", "show", "lo"]);
      assert.ok((JSON.parse(r2.stdout) as IpLink[])[0].flags.includes("UP"));
      ns.delete();
      assert.equal(existsSync(path), false);
      assert.equal(nsfsMounts().includes(path), false);
    });
  });

  it("EEXIST on a path that already holds a namespace leaves the original intact", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const name = `${P}n2`;
      const ns = c.namespace(name);
      const id = netnsIdOfFd(ns.fd);
      {
        using rt = Rtnl.open({ netns: ns });
        rt.link.add({ kind: "veth", name: "keep0", peer: { name: "keep1" } });
      }
      assert.throws(() => NetNs.create(name), (e: unknown) => {
        assert.ok(e instanceof SyscallError, String(e));
        assert.equal(e.code, "EEXIST");
        assert.ok(e.message.includes(`"/run/netns/${name}"`), e.message);
        return true;
      });
      assert.ok(await ipLink("keep0", name), "the original's links are still there");
      using again = NetNs.open(name);
      assert.equal(netnsIdOfFd(again.fd), id, "the same namespace is mounted there");
      assert.equal(nsfsMounts().filter((m) => m === `/run/netns/${name}`).length, 1);
      // also for a plain file that is not a namespace
      const file = `/run/${P}-plain`;
      c.netns(file); // unmounts too, should the library have mounted over it
      writeFileSync(file, "not a namespace\n");
      assert.throws(() => NetNs.create(file), { name: "SyscallError", code: "EEXIST" });
      assert.equal(existsSync(file), true, "the file is left alone");
    });
  });

  it("remove() of a missing namespace fails with ENOENT unless missingOk", {
    skip: SKIP_ROOT,
  }, async () => {
    const name = `${P}gone`;
    assert.throws(() => NetNs.remove(name), (e: unknown) => {
      assert.ok(e instanceof SyscallError, String(e));
      assert.equal(e.code, "ENOENT");
      assert.ok(e.message.includes(`"/run/netns/${name}"`), e.message);
      return true;
    });
    NetNs.remove(name, { missingOk: true });
    await withCleanup((c) => {
      c.netns(`${P}n3`);
      const ns = NetNs.create(`${P}n3`);
      ns.delete();
      assert.throws(() => NetNs.remove(`${P}n3`), { name: "SyscallError", code: "ENOENT" });
      ns.delete({ missingOk: true });
    });
  });

  it("remove() removes only a namespace mount or the stub create() leaves", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup((c) => {
      const dir = `/run/${P}-rm`;
      c.defer("rm dir", () => rmSync(dir, { recursive: true, force: true }));
      mkdirSync(dir, { recursive: true });
      const refuse = (path: string) =>
        assert.throws(() => NetNs.remove(path), (e: unknown) => {
          assert.ok(e instanceof SyscallError, String(e));
          assert.equal(e.code, "EINVAL");
          assert.match(e.message, /refusing to remove it/);
          assert.ok(e.message.includes(`"${path}"`), e.message);
          return true;
        });
      // A plain file, an empty file of another mode, a directory, a symlink to a namespace.
      writeFileSync(`${dir}/file`, "data\n");
      refuse(`${dir}/file`);
      writeFileSync(`${dir}/empty`, "", { mode: 0o644 });
      refuse(`${dir}/empty`);
      mkdirSync(`${dir}/sub`);
      refuse(`${dir}/sub`);
      symlinkSync("/proc/self/ns/net", `${dir}/link`);
      refuse(`${dir}/link`);
      // /proc's own namespace files are namespaces, but not mounts.
      refuse("/proc/1/ns/net");
      for (const f of ["file", "empty", "sub"]) assert.ok(existsSync(`${dir}/${f}`), f);
      assert.equal(readFileSync(`${dir}/file`, "utf8"), "data\n");
      // The stub a crash between create's open and mount leaves: removed.
      writeFileSync(`${dir}/stub`, "", { mode: 0o444 });
      NetNs.remove(`${dir}/stub`);
      assert.equal(existsSync(`${dir}/stub`), false);
      // Relative paths are refused before anything is touched.
      assert.throws(() => NetNs.remove(`run/${P}-rm/file`), TypeError);
      assert.throws(() => NetNs.create(`${dir}/../x`), TypeError);
      assert.equal(existsSync(`/run/x`), false);
    });
  });

  it("rejects bad names before touching anything", { skip: SKIP_ROOT }, () => {
    for (const bad of ["", ".", ".."]) {
      assert.throws(
        () => NetNs.create(bad),
        (e: unknown) => e instanceof TypeError && e.message.includes(`"${bad}"`),
      );
    }
    assert.throws(
      () => NetNs.openPid(0),
      (e: unknown) => e instanceof RangeError && e.message.includes('"0"'),
    );
    assert.throws(() => NetNs.openPid(1.5), RangeError);
  });

  it("openPid(process.pid) opens our own namespace", { skip: SKIP_ROOT }, () => {
    using ns = NetNs.openPid(process.pid);
    assert.equal(ns.path, `/proc/${process.pid}/ns/net`);
    assert.equal(netnsIdOfFd(ns.fd), netnsId());
    using rt = Rtnl.open({ netns: ns });
    assert.ok(rt.link.list().some((l) => l.name === "lo"));
    assert.throws(() => NetNs.openPid(0x7ffffff0), { name: "SyscallError", code: "ENOENT" });
  });
});

describe("NetNs: run()", () => {
  it("runs inside the namespace and returns, restoring ours", { skip: SKIP_ROOT }, async () => {
    await withCleanup((c) => {
      const name = `${P}r1`;
      const ns = c.namespace(name);
      const home = netnsId();
      const inside = ns.run(() => netnsId());
      assert.equal(inside, netnsIdOfFd(ns.fd));
      assert.notEqual(inside, home);
      assert.equal(netnsId(), home);
      // a socket opened inside stays bound there
      const count = ns.run(() => {
        using rt = Rtnl.open();
        return rt.link.list().length;
      });
      assert.equal(count, 1);
      assert.equal(netnsId(), home);
    });
  });

  it("restores the namespace when the callback throws", { skip: SKIP_ROOT }, async () => {
    await withCleanup((c) => {
      const name = `${P}r2`;
      const ns = c.namespace(name);
      const home = netnsId();
      let seenInside = "";
      const boom = new Error("boom");
      assert.throws(() =>
        ns.run(() => {
          seenInside = netnsId();
          throw boom;
        }), (e: unknown) => e === boom);
      assert.equal(seenInside, netnsIdOfFd(ns.fd));
      assert.equal(netnsId(), home, "back home after a throw");
      // and a kernel error thrown inside, too
      assert.throws(() =>
        ns.run(() => {
          using rt = Rtnl.open();
          rt.link.get(`${P}none`);
        }), NetlinkError);
      assert.equal(netnsId(), home);
    });
  });

  it("refuses a callback that returns a promise, and still restores", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup((c) => {
      const name = `${P}r3`;
      const ns = c.namespace(name);
      const home = netnsId();
      assert.throws(
        () => ns.run(() => Promise.resolve(1)),
        (e: unknown) => e instanceof TypeError && /promise/.test(e.message),
      );
      assert.equal(netnsId(), home);
      assert.throws(() => ns.run(async () => {}), TypeError);
      assert.equal(netnsId(), home);
      ns.close();
      assert.throws(() => ns.run(() => 1), /closed/);
    });
  });
});

describe("Symbol.dispose", () => {
  it("using closes NetNs and Rtnl handles, leaving the namespace", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const name = `${P}d1`;
      c.netns(name);
      NetNs.create(name).close();
      let nsFd = -1;
      let kept: NetNs | undefined;
      let keptRt: Rtnl | undefined;
      {
        using ns = NetNs.open(name);
        using rt = Rtnl.open({ netns: ns });
        kept = ns;
        keptRt = rt;
        nsFd = ns.fd;
        assert.ok(rt.socket.fd >= 0);
      }
      assert.equal(kept.fd, -1);
      assert.equal(keptRt.socket.fd, -1);
      let stillThere = "";
      try {
        stillThere = readlinkSync(`/proc/self/fd/${nsFd}`);
      } catch { /* closed */ }
      assert.notEqual(stillThere.startsWith("net:"), true, "the fd was closed");
      assert.throws(() => keptRt.link.list(), /closed/);
      kept.close(); // twice is fine
      keptRt.close();
      assert.ok((await ipNetnsNames()).includes(name), "the namespace itself stays");
    });
  });
});

describe("No leaks", () => {
  /** A sequence that makes namespaces and links, then fails midway. */
  async function failingSequence(): Promise<void> {
    await withCleanup((c) => {
      const nsName = `${P}lk`;
      const ns = c.namespace(nsName);
      using rt = Rtnl.open();
      c.link(`${P}lkbr`);
      rt.link.add({ kind: "bridge", name: `${P}lkbr`, up: true });
      c.link(`${P}lka`);
      rt.link.add({
        kind: "veth",
        name: `${P}lka`,
        master: `${P}lkbr`,
        peer: { name: "eth0", netns: ns },
      });
      c.link(`${P}lkc`);
      rt.link.add({ kind: "veth", name: `${P}lkc`, peer: { name: `${P}lkd` } });
      // fails: the name is taken
      rt.link.add({ kind: "bridge", name: `${P}lkc` });
      assert.fail("unreachable");
    });
  }

  it("a test failing midway leaves nothing with the run prefix behind", {
    skip: SKIP_ROOT,
  }, async () => {
    await assert.rejects(failingSequence, { name: "NetlinkError", code: "EEXIST" });
    await assertNoLeftovers(P);
    assert.deepEqual(await leftovers(P), []);
  });
});
