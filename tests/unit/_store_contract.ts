/**
 * The behaviour every `Store` implementation must have (not a test file itself): run by
 * tests/unit/store-contract.test.ts on the file store and by tests/priv/etcd-store.test.ts on
 * etcd.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import type { EndpointChange, Store } from "../../network/store.ts";
import type { EndpointRecord, NetworkRecord } from "../../model/records.ts";

function network(name: string, id: string): NetworkRecord {
  return {
    version: 1,
    name,
    type: "bridge",
    id,
    created: "2026-12-07T00:00:00.000Z",
    config: {},
    pools: { v4: { subnet: "198.51.100.0/24", gateway: "198.51.100.1", allocated: {} } },
    endpoints: {},
  };
}

function endpoint(token: string): EndpointRecord {
  return { interfaces: [], hostLinks: [], token };
}

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Registers the contract's tests (inside a describe).
 *
 * @param make A fresh, empty store for each test.
 */
export function storeContract(make: () => Store | Promise<Store>): void {
  it("networks: create is atomic on the name, read back, listed, removed", async () => {
    const s = await make();
    const n = network("blue", "0a0a0a0a0a01");
    assert.equal(await s.createNetwork(n), true);
    assert.equal(await s.createNetwork(network("blue", "0a0a0a0a0a02")), false);
    assert.equal((await s.readNetwork("blue"))?.id, "0a0a0a0a0a01");
    assert.deepEqual(await s.networks(), ["blue"]);
    await s.writeNetwork({ ...n, state: "deleting" });
    assert.equal((await s.readNetwork("blue"))?.state, "deleting");
    await s.removeNetwork(n);
    assert.equal(await s.readNetwork("blue"), undefined);
    assert.deepEqual(await s.networks(), []);
  });

  it("endpoints: create on absence, removal by identity keeps a newer record", async () => {
    const s = await make();
    const n = network("red", "0b0b0b0b0b01");
    await s.createNetwork(n);
    assert.equal(await s.createEndpoint(n, "c1", endpoint("t1")), true);
    assert.equal(await s.createEndpoint(n, "c1", endpoint("t2")), false);
    assert.equal((await s.readEndpoint(n, "c1"))?.token, "t1");
    await s.writeEndpoint(n, "c1", endpoint("t3"));
    assert.equal(await s.removeEndpoint(n, "c1", "t1"), false);
    assert.equal((await s.readEndpoint(n, "c1"))?.token, "t3");
    assert.deepEqual(await s.endpoints(n), ["c1"]);
    assert.equal(await s.removeEndpoint(n, "c1", "t3"), true);
    assert.equal(await s.readEndpoint(n, "c1"), undefined);
    await s.removeNetwork(n);
  });

  it("claims: one owner per address, released only by its owner", async () => {
    const s = await make();
    const n = network("green", "0c0c0c0c0c01");
    await s.createNetwork(n);
    const results = await Promise.all([
      s.reserve(n, "198.51.100.2", "c1@t1"),
      s.reserve(n, "198.51.100.2", "c2@t2"),
    ]);
    assert.deepEqual(results.filter((x) => x).length, 1);
    const owner = await s.holder(n, "198.51.100.2");
    assert.ok(owner === "c1@t1" || owner === "c2@t2");
    const other = owner === "c1@t1" ? "c2@t2" : "c1@t1";
    assert.equal(await s.release(n, "198.51.100.2", other), false);
    assert.deepEqual(await s.reserved(n), ["198.51.100.2"]);
    assert.equal(await s.release(n, "198.51.100.2", owner!), true);
    assert.deepEqual(await s.reserved(n), []);
    await s.removeNetwork(n);
  });

  it("watch() reports endpoint changes; generation() grows with them", async () => {
    const s = await make();
    const n = network("watched", "0d0d0d0d0d01");
    await s.createNetwork(n);
    const seen: EndpointChange[] = [];
    const g0 = s.generation();
    const w = s.watch((c) => seen.push(...c), { network: "watched" });
    try {
      await w.ready;
      await s.createEndpoint(n, "c1", endpoint("t1"));
      await until("the put", () => seen.some((c) => c.endpoint === "c1" && c.record));
      assert.equal(seen.find((c) => c.endpoint === "c1")?.record?.token, "t1");
      assert.equal(seen[0].network, "watched");
      await s.removeEndpoint(n, "c1");
      await until("the delete", () => seen.some((c) => c.endpoint === "c1" && !c.record));
      await until("a new generation", () => s.generation() > g0);
    } finally {
      await w.stop();
    }
    await s.removeNetwork(n);
  });
}
