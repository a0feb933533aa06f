/**
 * `EtcdStore` on the overlay's key layout (`overlayStoreLayout`), against a real etcd started
 * inside the throw-away namespace: `Store.claim` writes the keys and values every overlay host
 * reads (`ov/NAME/endpoints/EP` as an `OverlayEndpoint`, `ov/NAME/ipam/4|6/ADDRESS` naming the
 * endpoint), none under a lease; removal by token, release by owner, the claims of both families.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { overlayKeys, overlayNetworkRef, overlayRecordOf } from "../../network/overlay_host.ts";
import { checkRemote } from "../../network/overlay_watcher.ts";
import { isRoot, SKIP_ROOT } from "./_helpers.ts";
import { HOST, overlayEtcdStore } from "./_etcd_overlay_store.ts";

const etcd = overlayEtcdStore({ clientPort: 23930, peerPort: 23940 });

before(async () => {
  if (isRoot) await etcd.setUp();
});

after(() => etcd.tearDown());

const NET = `ovl${process.pid % 10000}`;

function ep(name: string, n: number, token: string) {
  return overlayRecordOf({
    name,
    host: HOST,
    mac: `02:42:cb:00:71:${n.toString(16).padStart(2, "0")}`,
    address: `203.0.113.${n}/24`,
    addressIPv6: `2001:db8:16::${n}/64`,
    aliases: ["web"],
    token,
  });
}

describe("EtcdStore on the overlay's layout", { skip: SKIP_ROOT, timeout: 60_000 }, () => {
  it("claim writes today's overlay keys and values, with no lease; release by token and owner", async () => {
    const { kv, s } = etcd.open();
    const n = overlayNetworkRef(NET);
    const keys = overlayKeys(NET);
    const a = ["203.0.113.2", "2001:db8:16::2"];
    assert.deepEqual(await s.claim(n, "c1", ep("c1", 2, "t1"), a, "c1"), { claimed: true });
    // The record as every host's watcher reads it.
    const rec = await kv.get(`${keys.endpoints}c1`);
    assert.ok(rec);
    assert.equal(rec.lease, "0");
    assert.deepEqual(checkRemote(rec.value, { subnets: ["203.0.113.0/24", "2001:db8:16::/64"] }), {
      host: HOST,
      mac: "02:42:cb:00:71:02",
      address: "203.0.113.2/24",
      addressIPv6: "2001:db8:16::2/64",
    });
    const raw = JSON.parse(rec.value);
    assert.equal(raw.name, "c1");
    assert.deepEqual(raw.aliases, ["web"]);
    // The claims, one per family, naming the endpoint, no lease.
    for (
      const [key, v] of [[`${keys.ipam4}203.0.113.2`, "c1"], [`${keys.ipam6}2001:db8:16::2`, "c1"]]
    ) {
      const c = await kv.get(key);
      assert.equal(c?.value, v, key);
      assert.equal(c?.lease, "0", key);
    }
    assert.deepEqual((await s.reserved(n)).sort(), [...a].sort());
    const back = await s.readEndpoint(n, "c1");
    assert.equal(back?.token, "t1");
    assert.equal(back?.interfaces[0].macAddress, "02:42:cb:00:71:02");
    assert.deepEqual(back?.aliases, ["web"]);
    // Name taken; an address taken: nothing written.
    assert.deepEqual(await s.claim(n, "c1", ep("c1", 3, "t2"), ["203.0.113.3"], "c1"), {
      claimed: false,
      endpointExists: true,
      taken: [],
    });
    assert.deepEqual(
      await s.claim(n, "c2", ep("c2", 3, "t3"), ["203.0.113.3", "2001:db8:16::2"], "c2"),
      { claimed: false, endpointExists: false, taken: ["2001:db8:16::2"] },
    );
    assert.equal(await kv.get(`${keys.ipam4}203.0.113.3`), undefined);
    assert.equal(await kv.get(`${keys.endpoints}c2`), undefined);
    // Removal only by the link's token; release only by the owner.
    assert.equal(await s.removeEndpoint(n, "c1", "t9"), false);
    assert.equal(await s.release(n, "203.0.113.2", "c9"), false);
    assert.equal(await s.removeEndpoint(n, "c1", "t1"), true);
    for (const x of a) assert.equal(await s.release(n, x, "c1"), true);
    assert.deepEqual(await s.reserved(n), []);
    assert.deepEqual(await s.endpoints(n), []);
    // The overlay's endpoints are followed by its own watcher.
    assert.throws(() => s.watch(() => {}), TypeError);
  });

  it("a malformed endpoint value is the store's error, not a bare exception", async () => {
    const { kv, s } = etcd.open();
    const n = overlayNetworkRef(NET);
    await kv.put(`${overlayKeys(NET).endpoints}bad`, '{"host":"x","mac":null}');
    try {
      await assert.rejects(s.readEndpoint(n, "bad"), (e: Error) => {
        assert.equal(e.name, "EtcdError");
        assert.match(e.message, /malformed endpoint/);
        return true;
      });
    } finally {
      await kv.delete(`${overlayKeys(NET).endpoints}bad`);
    }
  });
});
