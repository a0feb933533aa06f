/**
 * The behaviour of `Store.claim` (an endpoint record and its address claims in one step) that
 * every store must have (not a test file itself): run by tests/unit/store-claim.test.ts on the
 * file store and by tests/priv/etcd-claim.test.ts on etcd.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import type { Store } from "../../network/store.ts";
import type { EndpointRecord, NetworkRecord } from "../../model/records.ts";

function network(name: string, id: string): NetworkRecord {
  return {
    version: 1,
    name,
    type: "overlay",
    id,
    created: "2026-12-07T00:00:00.000Z",
    config: {},
    pools: {
      v4: { subnet: "203.0.113.0/24", gateway: "203.0.113.1", allocated: {} },
      v6: { subnet: "2001:db8:16::/64", gateway: "2001:db8:16::1", allocated: {} },
    },
    endpoints: {},
  };
}

function endpoint(token: string): EndpointRecord {
  return { state: "creating", interfaces: [], hostLinks: [], token };
}

/**
 * Registers the tests (inside a describe).
 *
 * @param make A fresh, empty store for each test.
 */
export function claimContract(make: () => Store | Promise<Store>): void {
  it("claim: the record and every address at once, or nothing (and what was in the way)", async () => {
    const s = await make();
    const n = network("ov16", "0d0d0d0d0d01");
    await s.createNetwork(n);
    const a = ["203.0.113.2", "2001:db8:16::2"];
    assert.deepEqual(await s.claim(n, "c1", endpoint("t1"), a, "c1@t1"), { claimed: true });
    assert.equal((await s.readEndpoint(n, "c1"))?.token, "t1");
    for (const x of a) assert.equal(await s.holder(n, x), "c1@t1");
    // The name is taken: nothing of c1's changes.
    assert.deepEqual(
      await s.claim(n, "c1", endpoint("t2"), ["203.0.113.3"], "c1@t2"),
      { claimed: false, endpointExists: true, taken: [] },
    );
    assert.equal(await s.holder(n, "203.0.113.3"), undefined);
    assert.equal((await s.readEndpoint(n, "c1"))?.token, "t1");
    // An address is taken: no record of c2, no claim of its other address.
    assert.deepEqual(
      await s.claim(n, "c2", endpoint("t3"), ["203.0.113.3", "2001:db8:16::2"], "c2@t3"),
      { claimed: false, endpointExists: false, taken: ["2001:db8:16::2"] },
    );
    assert.equal(await s.readEndpoint(n, "c2"), undefined);
    assert.equal(await s.holder(n, "203.0.113.3"), undefined);
    assert.deepEqual((await s.reserved(n)).sort(), [...a].sort());
    await s.removeNetwork(n);
  });

  it("claim: of many writers of one address, exactly one gets it; the others leave nothing", async () => {
    const s = await make();
    const n = network("ov17", "0d0d0d0d0d02");
    await s.createNetwork(n);
    const names = ["w1", "w2", "w3", "w4"];
    const results = await Promise.all(
      names.map((w) => s.claim(n, w, endpoint(w), ["203.0.113.9"], `${w}@${w}`)),
    );
    const won = names.filter((_, i) => results[i].claimed);
    assert.equal(won.length, 1);
    assert.deepEqual(await s.endpoints(n), won);
    assert.equal(await s.holder(n, "203.0.113.9"), `${won[0]}@${won[0]}`);
    await s.removeNetwork(n);
  });
}
