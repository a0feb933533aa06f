/**
 * Privileged tests of the overlay watcher on its own: a VXLAN device in a namespace of the test,
 * and a scripted store (the etcd client's own watch, resume and compaction reporting are tested
 * against real etcd in etcd-client.test.ts). Checks the snapshot reconciliation (stale entries a
 * killed watcher left are removed), incremental events, and the reload after a compaction.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { OverlayWatcher, Rtnl } from "../../mod.ts";
import type { KeyValue, KvStore, RangeResult, TxnResult, Watch, WatchHandlers } from "../../mod.ts";
import { assertNoLeftovers, isRoot, runId, SKIP_ROOT, sleep, withCleanup } from "./_helpers.ts";

const P = runId();
const PREFIX = "/nslink/ov/t/endpoints/";

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

/** A store whose contents and watch events the test drives. */
class ScriptedStore implements KvStore {
  readonly url = "etcd://scripted";
  revision = 10;
  kvs = new Map<string, string>();
  handlers: WatchHandlers | undefined;
  watchFrom = 0;
  ranges = 0;

  set(name: string, value: Record<string, string> | undefined): KeyValue {
    this.revision++;
    const key = PREFIX + name;
    if (value) this.kvs.set(key, JSON.stringify(value));
    else this.kvs.delete(key);
    return {
      key,
      value: value ? JSON.stringify(value) : "",
      createRevision: this.revision,
      modRevision: this.revision,
      version: 1,
      lease: "0",
    };
  }
  range(): Promise<RangeResult> {
    this.ranges++;
    const kvs = [...this.kvs].map(([key, value]) => ({
      key,
      value,
      createRevision: 1,
      modRevision: 1,
      version: 1,
      lease: "0",
    }));
    return Promise.resolve({ revision: this.revision, kvs });
  }
  watch(_prefix: string, start: number, handlers: WatchHandlers): Watch {
    this.handlers = handlers;
    this.watchFrom = start;
    return { revision: start - 1, cancel: () => Promise.resolve() };
  }
  get(): Promise<KeyValue | undefined> {
    return Promise.reject(new Error("unused"));
  }
  put(): Promise<number> {
    return Promise.reject(new Error("unused"));
  }
  delete(): Promise<number> {
    return Promise.reject(new Error("unused"));
  }
  txn(): Promise<TxnResult> {
    return Promise.reject(new Error("unused"));
  }
  leaseGrant(): Promise<string> {
    return Promise.reject(new Error("unused"));
  }
  leaseKeepAlive(): Promise<number> {
    return Promise.reject(new Error("unused"));
  }
  leaseRevoke(): Promise<void> {
    return Promise.reject(new Error("unused"));
  }
}

const ep = (n: number, host = "198.51.100.12") => ({
  name: `e${n}`,
  host,
  mac: `02:42:cb:00:71:${n.toString(16).padStart(2, "0")}`,
  address: `203.0.113.${n}/24`,
  addressIPv6: `2001:db8:20::${n.toString(16)}/64`,
});

function kernel(rt: Rtnl): { fdb: string[]; neigh: string[] } {
  return {
    fdb: rt.fdb.list({ dev: "vx0" }).filter((e) => e.dst).map((e) => `${e.lladdr} ${e.dst}`)
      .sort(),
    neigh: rt.neigh.list({ dev: "vx0" }).filter((n) => n.state.includes("permanent"))
      .map((n) => `${n.address} ${n.lladdr}`).sort(),
  };
}

function expected(...eps: ReturnType<typeof ep>[]): { fdb: string[]; neigh: string[] } {
  return {
    fdb: eps.map((e) => `${e.mac} ${e.host}`).sort(),
    neigh: eps.flatMap((e) => [
      `${e.address.split("/")[0]} ${e.mac}`,
      `${e.addressIPv6.split("/")[0]} ${e.mac}`,
    ]).sort(),
  };
}

describe("overlay watcher", { skip: SKIP_ROOT, timeout: 30_000 }, () => {
  it("installs 1,000 remote endpoints (IPv6-only ones too) from one snapshot", async () => {
    await withCleanup(async (c) => {
      const name = `${P}k`;
      const ns = c.namespace(name);
      const rt = Rtnl.open({ netns: ns });
      c.close(rt);
      rt.link.add({ kind: "bridge", name: "br0", up: true });
      rt.link.add({
        kind: "vxlan",
        name: "vx0",
        vni: 4097,
        local: "198.51.100.11",
        learning: false,
      });
      rt.link.set("vx0", { master: "br0", up: true });
      const store = new ScriptedStore();
      for (let i = 0; i < 1000; i++) {
        const hex = (i + 2).toString(16);
        store.set(`s${i}`, {
          name: `s${i}`,
          host: "198.51.100.12",
          mac: `02:43:00:00:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${
            (i & 255).toString(16).padStart(2, "0")
          }`,
          address: "",
          addressIPv6: `2001:db8:30::${hex}/64`,
        });
      }
      const w = new OverlayWatcher({
        store,
        prefix: PREFIX,
        self: "198.51.100.11",
        vxlan: "vx0",
        rtnl: rt,
      });
      await w.ready;
      const k = kernel(rt);
      assert.equal(k.fdb.length, 1000);
      assert.equal(k.neigh.length, 1000);
      assert.equal(w.lastError, undefined);
      await w.stop();
    });
  });

  it("reconciles a snapshot, follows events, and reloads after a compaction", async () => {
    await withCleanup(async (c) => {
      const name = `${P}w`;
      const ns = c.namespace(name);
      const rt = Rtnl.open({ netns: ns });
      c.close(rt);
      rt.link.add({ kind: "bridge", name: "br0", up: true });
      rt.link.add({
        kind: "vxlan",
        name: "vx0",
        vni: 4096,
        local: "198.51.100.11",
        learning: false,
        proxy: true,
      });
      rt.link.set("vx0", { master: "br0", up: true });
      // What a killed watcher left: an entry for an endpoint that is gone since.
      const stale = ep(99);
      rt.fdb.add({ dev: "vx0", lladdr: stale.mac, dst: stale.host });
      rt.neigh.add({ dev: "vx0", address: "203.0.113.99", lladdr: stale.mac });

      const store = new ScriptedStore();
      store.set("e2", ep(2));
      store.set("e3", ep(3, "198.51.100.13"));
      store.set("mine", ep(4, "198.51.100.11")); // this host's own: no entries
      const w = new OverlayWatcher({
        store,
        prefix: PREFIX,
        self: "198.51.100.11",
        vxlan: "vx0",
        rtnl: rt,
      });
      await w.ready;
      assert.deepEqual(kernel(rt), expected(ep(2), ep(3, "198.51.100.13")));
      assert.equal(w.revision, store.revision);
      assert.equal(store.watchFrom, store.revision + 1, "watches from the next revision");

      // events: one comes, one moves to another host, one goes
      const h = store.handlers!;
      const add = store.set("e5", ep(5));
      const moved = store.set("e3", ep(3, "198.51.100.14"));
      const del = store.set("e2", undefined);
      h.events([{ type: "put", kv: add }, { type: "put", kv: moved }], moved.modRevision);
      h.events([{ type: "delete", kv: del }], del.modRevision);
      assert.deepEqual(kernel(rt), expected(ep(3, "198.51.100.14"), ep(5)));
      assert.equal(w.revision, del.modRevision);

      // changes the watcher never saw, then the store says its revision was compacted
      store.set("e5", undefined);
      store.set("e6", ep(6));
      const before = store.ranges;
      h.compacted(store.revision);
      for (let i = 0; i < 100 && store.ranges === before; i++) await sleep(10);
      for (let i = 0; i < 100 && w.revision !== store.revision; i++) await sleep(10);
      assert.equal(w.snapshots, 2);
      assert.deepEqual(kernel(rt), expected(ep(3, "198.51.100.14"), ep(6)));

      // a broken connection is reported; the client resumes by itself
      store.handlers!.disconnected?.(new Error("connection reset"));
      assert.match(String(w.lastError), /connection reset/);
      await w.stop();
      // stopping leaves the entries (the next watcher reconciles them)
      assert.equal(kernel(rt).fdb.length, 2);
    });
  });

  it("an address that moves between endpoints in one batch keeps its neighbour entry", async () => {
    await withCleanup(async (c) => {
      const name = `${P}m`;
      const ns = c.namespace(name);
      const rt = Rtnl.open({ netns: ns });
      c.close(rt);
      rt.link.add({ kind: "bridge", name: "br0", up: true });
      rt.link.add({
        kind: "vxlan",
        name: "vx0",
        vni: 4097,
        local: "198.51.100.11",
        learning: false,
        proxy: true,
      });
      rt.link.set("vx0", { master: "br0", up: true });
      const store = new ScriptedStore();
      store.set("e1", ep(1));
      store.set("e2", ep(2));
      const w = new OverlayWatcher({
        store,
        prefix: PREFIX,
        self: "198.51.100.11",
        vxlan: "vx0",
        rtnl: rt,
      });
      await w.ready;
      assert.deepEqual(kernel(rt), expected(ep(1), ep(2)));
      // e1 takes e2's addresses (new MAC), e2 takes new ones: e1's event comes first, so
      // removing e2's old entries must not remove what e1 now holds.
      const e1 = { ...ep(2), name: "e1", mac: "02:42:cb:00:72:01" };
      const h = store.handlers!;
      const a = store.set("e1", e1);
      const b = store.set("e2", ep(3));
      h.events([{ type: "put", kv: a }, { type: "put", kv: b }], b.modRevision);
      assert.deepEqual(kernel(rt), expected(e1, ep(3)));
      await w.stop();
    });
  });
});
