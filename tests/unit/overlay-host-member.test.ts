/**
 * OverlayHost's `member` option: after a lease expiry the host takes a new lease and registers
 * again only while it still takes part in the network (the agent's overlay duty asks its state:
 * a host that another process of it removed from the network is not registered again).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OverlayHost } from "../../network/overlay_host.ts";
import type { KvStore } from "../../store/store.ts";

/** A store whose lease expired after the first grant: keepalive answers 0 from then on. */
function fakeStore() {
  const puts: string[] = [];
  let grants = 0;
  let expired = false;
  const store = {
    url: "etcd://198.51.100.1:2379",
    get: () => Promise.resolve(undefined),
    put: (key: string) => {
      puts.push(key);
      return Promise.resolve({});
    },
    leaseGrant: () => Promise.resolve(`L${++grants}`),
    leaseKeepAlive: () => Promise.resolve(expired ? 0 : 15),
    leaseRevoke: () => Promise.resolve(),
    txn: (r: { success: { put?: { key: string } }[] }) => {
      for (const op of r.success) if (op.put) puts.push(op.put.key);
      return Promise.resolve({ succeeded: true, ranges: [] });
    },
    range: () => Promise.resolve({ kvs: [], revision: 1 }),
  };
  return {
    store: store as unknown as KvStore,
    puts,
    grants: () => grants,
    expire: () => (expired = true),
  };
}

describe("OverlayHost member", () => {
  it("a host that no longer takes part is not registered again after its lease expired", async () => {
    const f = fakeStore();
    let member = true;
    const host = new OverlayHost({
      store: f.store,
      network: "ov1",
      advertise: "198.51.100.11",
      ttl: 15,
      member: () => member,
    });
    assert.equal(await host.lease(), "L1");
    f.expire();
    member = false;
    assert.equal(await host.tick(), false);
    assert.equal(f.grants(), 1, "no new lease");
    member = true;
    assert.equal(await host.tick(), true, "a member registers again");
    assert.equal(f.grants(), 2);
    assert.ok(f.puts.includes("/nslink/ov/ov1/hosts/198.51.100.11"));
    await host.stop();
  });
});
