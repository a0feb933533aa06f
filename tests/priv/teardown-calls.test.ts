/**
 * The system calls of one container's teardown on the fast path, as a user writes it
 * (`ns.delete()`, then `network.unlink()`), held to a budget (issue 21): every one of them is
 * paid per container. The outcome is checked independently: the namespace, its resolv.conf
 * and the endpoint gone, the address free again.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { newNetworkNamespace } from "../../mod.ts";
import { agentAfterLink, removeNetnsResolvConf } from "../../network/dns_hooks.ts";
import { deferredCloseLimit } from "../../network/namespace.ts";
import type { NetworkRecord } from "../../model/records.ts";
import { ipNetnsNames, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import {
  bridgeNetwork,
  cleanupNewVeths,
  namespaceAt,
  readRecord,
  setUpNetworkTestFile,
  waitFor,
} from "./_network_helpers.ts";
import { agentOffForTests } from "./_agent_helpers.ts";
import { libcCalls } from "../unit/_libc_calls.ts";

const { prefix: P } = setUpNetworkTestFile();

/**
 * What the teardown needs, at most, before the calls return: the namespace's path checked,
 * unmounted and removed (3; its handle and fd are closed right after, with the next turn of the
 * event loop); the resolv.conf this process wrote removed with its directory
 * (2); unlink's lock (3), the endpoint record (one read) and its releasing mark read (4), the namespace
 * looked up (1) and the mark set (1). It was 21: the handles were closed first, the resolv.conf
 * was read again, and every file was read until a read returned 0.
 */
const BUDGET = 14;

describe("teardown system calls", () => {
  it(`ns.delete() and network.unlink() of a fast-path container make at most ${BUDGET}`, {
    skip: SKIP_ROOT || (!existsSync("/etc/netns") && "no /etc/netns"),
    timeout: 60_000,
  }, async () => {
    const agentBack = agentOffForTests();
    try {
      await withCleanup(async (c) => {
        await cleanupNewVeths(c);
        const { network, stateDir } = await bridgeNetwork(c, `${P}-td`, `${P}br`, {
          subnet: "198.51.100.0/24",
          subnetIPv6: "2001:db8:21::/64",
        });
        const path = `/run/netns/${P}c0`;
        const name = path.slice("/run/netns/".length);
        const ns = await namespaceAt(c, path);
        const [iface] = await network.link("c0", { namespace: ns });
        c.defer("unlink c0", () => network.unlink("c0"));
        await ns.addInterface(iface);
        // Names are on by default: the namespace has its resolv.conf.
        assert.ok(existsSync(`/etc/netns/${name}/resolv.conf`), "resolv.conf written");

        // Once per process, the first namespace removal learns nsfs's device: paid here.
        await (await namespaceAt(c, `/run/netns/${P}w`)).delete();
        const calls = await libcCalls(async () => {
          await ns.delete();
          await network.unlink("c0");
        });
        assert.ok(
          calls.length <= BUDGET,
          `${calls.length} system calls (budget ${BUDGET}): ${calls.join(" ")}`,
        );
        // The namespace's handle is closed at the next turn of the event loop.
        await new Promise((ok) => setTimeout(ok, 0));
        assert.equal(ns.netns.fd, -1, "namespace fd closed");
        assert.throws(() => ns.rtnl(), /is closed/);

        // The outcome, seen independently.
        assert.equal((await ipNetnsNames()).includes(name), false, "namespace gone");
        assert.equal(existsSync(`/etc/netns/${name}`), false, "resolv.conf and its directory gone");
        // The endpoint is released once the kernel has removed its veth (the settle check, or
        // the next link, sees it); the address is then free for another container.
        assert.ok(
          await waitFor(() => readRecord(stateDir, `${P}-td`)?.endpoints.c0 === undefined, 5000),
          "endpoint record released",
        );
        const ns2 = await namespaceAt(c, `/run/netns/${P}c1`);
        const [again] = await network.link("c1", {
          namespace: ns2,
          address: iface.address.split("/")[0],
        });
        c.defer("unlink c1", () => network.unlink("c1"));
        assert.equal(again.address, iface.address);
      });
    } finally {
      agentBack();
    }
  });

  it("removes a resolv.conf this process wrote unread, and another's never", {
    skip: SKIP_ROOT || (!existsSync("/etc/netns") && "no /etc/netns"),
  }, async () => {
    const agentBack = agentOffForTests();
    const dir = `/etc/netns/${P}r`;
    try {
      const record = { pools: { v4: { gateway: "198.51.100.1" } }, config: { dns: true } };
      const ns = `/run/netns/${P}r`;
      await agentAfterLink("/nonexistent-state", record as unknown as NetworkRecord, ns);
      assert.deepEqual(await libcCalls(() => removeNetnsResolvConf(ns)), ["unlink", "rmdir"]);
      assert.equal(existsSync(dir), false);
      // Written, then replaced by another's file: the next link leaves that file alone and
      // forgets its own, so the namespace's deletion reads it and leaves it too.
      await agentAfterLink("/nonexistent-state", record as unknown as NetworkRecord, ns);
      writeFileSync(`${dir}/resolv.conf`, "nameserver 203.0.113.53\n");
      await agentAfterLink("/nonexistent-state", record as unknown as NetworkRecord, ns);
      removeNetnsResolvConf(ns);
      assert.equal(readFileSync(`${dir}/resolv.conf`, "utf8"), "nameserver 203.0.113.53\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
      agentBack();
    }
  });

  it("keeps a bounded number of deleted namespaces' handles open, however many go in one burst", {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    // The bound follows the process's soft limit on open files (two fds per namespace).
    const limits = readFileSync("/proc/self/limits", "utf8").split("\n")
      .find((l) => l.startsWith("Max open files"))!;
    const soft = limits.slice("Max open files".length).trim().split(/\s+/)[0];
    const bound = deferredCloseLimit(soft === "unlimited" ? Infinity : Number(soft));
    const n = bound + 36;
    await withCleanup(async (c) => {
      const fds = () => readdirSync("/proc/self/fd").length;
      const before = fds();
      // Awaiting settled promises never turns the event loop: the deferred closes cannot run.
      for (let i = 0; i < n; i++) {
        const path = `/run/netns/${P}b${i}`;
        c.netns(path);
        const ns = await newNetworkNamespace(path);
        await ns.delete();
      }
      const extra = fds() - before;
      assert.ok(extra <= 2 * bound, `${extra} more file descriptors open after ${n} deletions`);
      await new Promise((ok) => setTimeout(ok, 0));
      assert.ok(fds() - before <= 2, `${fds() - before} left open once the event loop turned`);
    });
  });
});
