/**
 * Privileged tests of the etcd v3 client (store/etcd.ts) against real etcd 3.4 started inside
 * the throw-away namespace: reads at a revision, compare-and-swap transactions, leases, watches
 * (resume, compaction), and a three-member cluster losing members.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EtcdClient, EtcdError, type WatchEvent } from "../../store/etcd.ts";
import { isRoot, runId, SKIP_ROOT, sleep } from "./_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";

const P = runId();
// Loopback addresses: the members need no link of their own.
const ADDRS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"];
let single: EtcdCluster | undefined;
let cluster: EtcdCluster | undefined;

before(async () => {
  if (!isRoot) return;
  single = await startEtcd(["127.0.0.1"], { clientPort: 23790, peerPort: 23800 });
  cluster = await startEtcd(ADDRS);
});

after(async () => {
  await single?.stop();
  await cluster?.stop();
});

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe("etcd client (JSON gateway over fetch)", { skip: SKIP_ROOT, timeout: 60_000 }, () => {
  it("puts, gets, ranges by prefix at a revision and deletes", async () => {
    const etcd = new EtcdClient(single!.url);
    const k = `/${P}/kv/`;
    const r1 = await etcd.put(`${k}a`, "1");
    await etcd.put(`${k}b`, "zwei ü");
    const r3 = await etcd.put(`${k}a`, "3");
    assert.equal((await etcd.get(`${k}b`))?.value, "zwei ü");
    const now = await etcd.range(k, { prefix: true });
    assert.deepEqual(now.kvs.map((kv) => `${kv.key}=${kv.value}`), [`${k}a=3`, `${k}b=zwei ü`]);
    assert.equal(now.revision, r3);
    const then = await etcd.range(k, { prefix: true, revision: r1 });
    assert.deepEqual(then.kvs.map((kv) => kv.value), ["1"]);
    assert.equal(await etcd.delete(k, { prefix: true }), 2);
    assert.equal(await etcd.get(`${k}a`), undefined);
  });

  it("compare-and-swap: of many concurrent creators exactly one wins", async () => {
    const etcd = new EtcdClient(single!.url);
    const key = `/${P}/cas`;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        etcd.txn({
          compare: [{ key, target: "create", createRevision: 0 }],
          success: [{ put: { key, value: `w${i}` } }],
          failure: [{ range: { key } }],
        })),
    );
    const winners = results.filter((r) => r.succeeded);
    assert.equal(winners.length, 1);
    const value = (await etcd.get(key))!.value;
    for (const r of results.filter((r) => !r.succeeded)) assert.equal(r.ranges[0][0].value, value);
  });

  it("leases: keys go when the lease is revoked or expires; keepalive keeps them", {
    timeout: 30_000,
  }, async () => {
    const etcd = new EtcdClient(single!.url);
    const a = await etcd.leaseGrant(1);
    const b = await etcd.leaseGrant(2);
    await etcd.put(`/${P}/lease/a`, "x", { lease: a });
    await etcd.put(`/${P}/lease/b`, "y", { lease: b });
    assert.ok((await etcd.leaseKeepAlive(b)) > 0);
    await etcd.leaseRevoke(a);
    assert.equal(await etcd.get(`/${P}/lease/a`), undefined);
    await etcd.leaseRevoke(a); // gone already: fine
    assert.equal(await etcd.leaseKeepAlive(a), 0);
    // The control: a lease granted after b with the same TTL, never kept alive. b is kept alive
    // until the control's key has expired, so b outlives its own TTL by the keepalives alone
    // (conditions on etcd's clock, not sleeps of the test's).
    const control = await etcd.leaseGrant(2);
    await etcd.put(`/${P}/lease/c`, "z", { lease: control });
    const end = Date.now() + 15_000;
    while ((await etcd.get(`/${P}/lease/c`)) !== undefined) {
      if (Date.now() > end) assert.fail("a lease of 2 s without keepalive still holds after 15 s");
      assert.ok((await etcd.leaseKeepAlive(b)) > 0);
      await sleep(100);
    }
    assert.equal(await etcd.leaseKeepAlive(control), 0, "the expired lease is gone");
    assert.equal((await etcd.get(`/${P}/lease/b`))?.value, "y", "kept alive past its TTL");
  });

  it("watches from a revision, and reports compaction", async () => {
    const etcd = new EtcdClient(single!.url);
    const k = `/${P}/w/`;
    const start = await etcd.put(`${k}before`, "0");
    const seen: WatchEvent[] = [];
    const w = etcd.watch(k, start, { events: (e) => seen.push(...e), compacted: () => {} });
    await etcd.put(`${k}a`, "1");
    await etcd.delete(`${k}a`);
    await until("3 events", () => seen.length >= 3);
    assert.deepEqual(seen.map((e) => `${e.type} ${e.kv.key}`), [
      `put ${k}before`,
      `put ${k}a`,
      `delete ${k}a`,
    ]);
    assert.equal(w.revision, seen[2].kv.modRevision);
    await w.cancel();
    // compaction past the start: the watch says so
    const rev = await etcd.put(`${k}b`, "2");
    await etcd.call("/v3/kv/compaction", { revision: String(rev) }, "compaction");
    let compacted = 0;
    const w2 = etcd.watch(k, start, { events: () => {}, compacted: (r) => (compacted = r) });
    await until("compaction", () => compacted > 0);
    assert.equal(compacted, rev);
    await w2.cancel();
  });

  it(
    "a three-member cluster: one member down, operations and watches go on; all down, a clear error; back, it works",
    {
      timeout: 60_000,
    },
    async () => {
      const c = cluster!;
      const etcd = new EtcdClient(c.url, { timeout: 1000 });
      const k = `/${P}/c/`;
      const start = await etcd.put(`${k}0`, "0");
      const seen: string[] = [];
      const w = etcd.watch(k, start + 1, {
        events: (e) => seen.push(...e.map((x) => x.kv.key)),
        compacted: () => {},
      });
      await etcd.put(`${k}1`, "1");
      await until("first event", () => seen.length === 1);
      await c.members[0].kill(); // the member the client (and the watch) talk to
      await etcd.put(`${k}2`, "2");
      assert.equal((await etcd.get(`${k}2`))?.value, "2");
      await until("the watch resumed on another member", () => seen.length === 2, 10_000);
      assert.deepEqual(seen, [`${k}1`, `${k}2`]);
      await c.members[1].kill();
      await c.members[2].kill();
      await assert.rejects(etcd.put(`${k}3`, "3"), (e: unknown) => {
        assert.ok(e instanceof EtcdError);
        assert.equal(e.unreachable, true);
        assert.match(e.message, new RegExp(`^etcd "${c.url}": put "${k}3": unreachable`));
        return true;
      });
      await Promise.all(c.members.map((m) => m.start()));
      const end = Date.now() + 20_000;
      for (;;) {
        try {
          await etcd.put(`${k}3`, "3");
          break;
        } catch (e) {
          if (Date.now() > end) throw e;
          await sleep(200);
        }
      }
      await until("the watch caught up after the outage", () => seen.length === 3, 10_000);
      await w.cancel();
    },
  );
});
