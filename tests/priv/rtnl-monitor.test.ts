/**
 * Privileged tests of the event monitor: the kernel's link, address, route and neighbour events
 * of one namespace, decoded and in order; overruns reported; the JS thread never blocked; the
 * monitor ended by `break` and by disposal.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Rtnl, type RtnlEvent, type RtnlMonitor } from "../../mod.ts";
import { assertNoLeftovers, ip, isRoot, runId, SKIP_ROOT, withCleanup } from "./_helpers.ts";

const P = runId();

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

/** Collects events until `until` says stop, or fails after `ms`; the monitor stays open. */
async function collect(
  events: RtnlMonitor,
  until: (e: RtnlEvent) => boolean,
  ms = 5000,
): Promise<RtnlEvent[]> {
  const all: RtnlEvent[] = [];
  const deadline = performance.now() + ms;
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), Math.max(0, deadline - performance.now()));
    });
    const read = pendingReads.get(events) ?? events.next();
    pendingReads.delete(events);
    const r = await Promise.race([read, timeout]);
    clearTimeout(timer);
    if (r === "timeout" || r.done) {
      events.close();
      assert.fail(`no matching event within ${ms} ms; got ${JSON.stringify(all)}`);
    }
    all.push(r.value);
    if (until(r.value)) return all;
  }
}

/** Reads events until none has come for 200 ms. */
async function drain(events: RtnlMonitor): Promise<void> {
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<"idle">((r) => {
      timer = setTimeout(() => r("idle"), 200);
    });
    const pending = events.next();
    const r = await Promise.race([pending, idle]);
    clearTimeout(timer);
    if (r === "idle") {
      // Keep the pending read: the next collect() would race it otherwise.
      pendingReads.set(events, pending);
      return;
    }
  }
}

const pendingReads = new WeakMap<RtnlMonitor, Promise<IteratorResult<RtnlEvent, undefined>>>();

/** A short description of an event, for order checks. */
function describeEvent(e: RtnlEvent): string {
  switch (e.type) {
    case "link":
      return e.action === "del"
        ? `del link ${e.link.name}`
        : `new link ${e.link.name} ${e.link.up ? "up" : "down"}`;
    case "address":
      return `${e.action} address ${e.address.cidr}`;
    case "route":
      return `${e.action} route ${e.route.dst}`;
    case "neighbour":
      return `${e.action} neighbour ${e.neighbour.address}`;
    case "overrun":
      return "overrun";
  }
}

describe("Rtnl#monitor()", () => {
  it(
    "reports a link added, set up, addressed and deleted, in order, in the handle's namespace",
    { skip: SKIP_ROOT },
    async () => {
      await withCleanup(async (c) => {
        const nsName = `${P}m`;
        const ns = c.namespace(nsName);
        using rt = Rtnl.open({ netns: ns });
        using events = rt.monitor({ groups: ["link", "address", "route"] });
        // A link in the host namespace must not show up in the monitor of `ns`.
        c.link(`${P}h`);
        using host = Rtnl.open();
        host.link.add({ kind: "veth", name: `${P}h`, peer: { name: `${P}i` } });

        const a = `${P}a`;
        rt.link.add({ kind: "veth", name: a, peer: { name: `${P}b` } });
        rt.link.set(a, { up: true });
        rt.addr.add(a, "198.51.100.2/24");
        rt.link.del(a);
        const got = await collect(
          events,
          (e) => e.type === "link" && e.action === "del" && e.link.name === a,
        );
        const mine = got.map(describeEvent).filter((d) =>
          d.includes(` ${a} `) || d.endsWith(` ${a}`) || d.includes("198.51.100.2/24")
        );
        // The kernel may repeat a state (carrier, operstate); the order of first appearances is
        // what a consumer relies on.
        const firsts = mine.filter((d, i) => mine.indexOf(d) === i);
        const want = [
          `new link ${a} down`,
          `new link ${a} up`,
          "new address 198.51.100.2/24",
          "del address 198.51.100.2/24",
          `del link ${a}`,
        ];
        assert.deepEqual(firsts.filter((d) => want.includes(d)), want, JSON.stringify(mine));
        assert.ok(
          !got.some((e) => e.type === "link" && e.link.name.startsWith(`${P}h`)),
          "a host link showed up in the namespace's monitor",
        );
        // The prefix route of the address comes as a route event, decoded.
        assert.ok(
          got.some((e) =>
            e.type === "route" && e.action === "new" && e.route.dst === "198.51.100.0/24"
          ),
        );
        assert.equal(events.closed, false);
        for await (const _ of events) break;
        assert.equal(events.closed, true, "break closes the monitor");
      });
    },
  );

  it("reports an overrun (ENOBUFS) as an event, then goes on", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const nsName = `${P}o`;
      const ns = c.namespace(nsName);
      using rt = Rtnl.open({ netns: ns });
      // The smallest receive buffer the kernel allows, and nobody reading while 40 links come.
      await using events = rt.monitor({ groups: ["link"], receiveBuffer: 1 });
      for (let i = 0; i < 40; i++) {
        rt.link.add({ kind: "veth", name: `${P}${i}a`, peer: { name: `${P}${i}b` } });
      }
      const got = await collect(events, (e) => e.type === "overrun");
      assert.equal(got.at(-1)?.type, "overrun");
      // After the resync signal (a consumer would dump the links again), once the backlog is
      // read, the monitor delivers what comes next.
      await drain(events);
      rt.link.add({ kind: "veth", name: `${P}za`, peer: { name: `${P}zb` } });
      const next = await collect(
        events,
        // A buffer this small holds one message: of the pair's two, one may be lost again.
        (e) => e.type === "link" && e.action === "new" && e.link.name.startsWith(`${P}z`),
      );
      assert.ok(next.length >= 1);
    });
  });

  it("waits without blocking the event loop, and closing ends a pending wait", {
    skip: SKIP_ROOT,
  }, async () => {
    const events = Rtnl.monitor({ groups: ["link"] });
    let ticks = 0;
    const interval = setInterval(() => ticks++, 5);
    try {
      const pending = events.next();
      // Timers keep running while the monitor waits (a blocked loop would never get here).
      while (ticks < 5) await new Promise((r) => setTimeout(r, 5));
      events.close();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stuck = new Promise<"stuck">((r) => timer = setTimeout(() => r("stuck"), 5000));
      const r = await Promise.race([pending, stuck]);
      clearTimeout(timer);
      assert.notEqual(r, "stuck", "close() did not wake the waiting next()");
      assert.equal(r !== "stuck" && r.done, true);
      assert.equal((await events.next()).done, true);
    } finally {
      clearInterval(interval);
      events.close();
    }
  });

  it("delivers an event to a waiting next()", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const nsName = `${P}l`;
      const ns = c.namespace(nsName);
      using rt = Rtnl.open({ netns: ns });
      await using events = rt.monitor({ groups: ["link"] });
      const waiting = events.next();
      await new Promise((r) => setTimeout(r, 50)); // the monitor is idle, waiting
      rt.link.set("lo", { up: true });
      // A deadline for the event, not a speed target (bench/monitor.ts measures the latency).
      const timer = setTimeout(() => events.close(), 5000);
      const r = await waiting;
      clearTimeout(timer);
      assert.equal(r.done, false, "no event within 5 s");
      assert.equal(r.value?.type, "link");
    });
  });

  it("refuses unknown groups and a closed namespace", { skip: SKIP_ROOT }, () => {
    assert.throws(
      () => Rtnl.monitor({ groups: ["links" as "link"] }),
      /Unknown monitor group "links"/,
    );
    assert.throws(() => Rtnl.monitor({ groups: [] }), /at least one group/);
    assert.throws(() => Rtnl.monitor({ netns: { fd: -1, path: "/run/netns/x" } }), /is closed/);
  });

  it("shows a neighbour entry being added", { skip: SKIP_ROOT }, async () => {
    await withCleanup(async (c) => {
      const nsName = `${P}n`;
      const ns = c.namespace(nsName);
      using rt = Rtnl.open({ netns: ns });
      rt.link.add({ kind: "veth", name: `${P}a`, peer: { name: `${P}b` }, up: true });
      await using events = rt.monitor({ groups: ["neighbour"] });
      const r = await ip([
        "-n",
        nsName,
        "neigh",
        "add",
        "198.51.100.9",
        "lladdr",
        "02:42:c6:33:64:09",
        "dev",
        `${P}a`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const got = await collect(events, (e) => e.type === "neighbour");
      const e = got.at(-1)!;
      assert.ok(e.type === "neighbour");
      assert.equal(e.action, "new");
      assert.equal(e.neighbour.address, "198.51.100.9");
      assert.equal(e.neighbour.mac, "02:42:c6:33:64:09");
      assert.equal(e.neighbour.state, "permanent");
      assert.equal(e.neighbour.family, 4);
    });
  });
});
