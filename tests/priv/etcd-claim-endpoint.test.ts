/**
 * `claimEndpoint` (network/lifecycle.ts), the one step that picks an endpoint's addresses and
 * claims them with its record (`Store.claim`), against a real etcd started inside the throw-away
 * namespace, on the overlay's key layout: what the overlay's `link` uses instead of its own
 * cached view of the taken addresses. Another writer's claims (another host) are stepped over,
 * concurrent claims never share an address, a taken name leaves nothing, a taken static address
 * names its holder.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { claimEndpoint } from "../../network/lifecycle.ts";
import { createPool } from "../../model/ipam.ts";
import type { NetworkRecord } from "../../drivers/driver.ts";
import { overlayKeys, overlayNetworkRef, overlayRecordOf } from "../../network/overlay_host.ts";
import { isRoot, SKIP_ROOT } from "./_helpers.ts";
import { HOST, overlayEtcdStore } from "./_etcd_overlay_store.ts";

const etcd = overlayEtcdStore({ clientPort: 23950, peerPort: 23960 });

before(async () => {
  if (isRoot) await etcd.setUp();
});

after(() => etcd.tearDown());

let seq = 0;

/** A fresh network (its own name and id: its own address book in this process). */
function network(): NetworkRecord {
  const name = `ovc${process.pid % 10000}x${++seq}`;
  return {
    ...overlayNetworkRef(name),
    id: `id-${name}`,
    pools: {
      v4: createPool("203.0.113.0/24", "203.0.113.1"),
      v6: createPool("2001:db8:17::/64", "2001:db8:17::1"),
    },
  };
}

const value = (name: string) => (v4: string, v6: string) =>
  overlayRecordOf({
    name,
    host: HOST,
    mac: "02:42:cb:00:71:01",
    address: v4,
    addressIPv6: v6,
    token: `t-${name}`,
  });

describe("claimEndpoint on etcd (overlay layout)", { skip: SKIP_ROOT, timeout: 60_000 }, () => {
  it("takes the lowest free addresses with the record, stepping over another host's claims", async () => {
    const { kv, s } = etcd.open();
    const n = network();
    const keys = overlayKeys(n.name);
    const r1 = await claimEndpoint(s, n, "c1", "c1", {}, value("c1"));
    assert.deepEqual(r1, { claimed: true, v4: "203.0.113.2/24", v6: "2001:db8:17::2/64" });
    // Another host claims the next addresses behind this process's back.
    await kv.put(`${keys.ipam4}203.0.113.3`, "far");
    await kv.put(`${keys.ipam6}2001:db8:17::3`, "far");
    const r2 = await claimEndpoint(s, n, "c2", "c2", {}, value("c2"));
    assert.deepEqual(r2, { claimed: true, v4: "203.0.113.4/24", v6: "2001:db8:17::4/64" });
    assert.equal((await kv.get(`${keys.ipam4}203.0.113.3`))?.value, "far");
    assert.equal((await kv.get(`${keys.ipam4}203.0.113.4`))?.value, "c2");
    const rec = JSON.parse((await kv.get(`${keys.endpoints}c2`))!.value);
    assert.equal(rec.address, "203.0.113.4/24");
    assert.equal(rec.addressIPv6, "2001:db8:17::4/64");
    // Skipped addresses (held on this host) are not chosen.
    const r3 = await claimEndpoint(
      s,
      n,
      "c3",
      "c3",
      {},
      value("c3"),
      new Set(["203.0.113.5", "2001:db8:17::5"]),
    );
    assert.deepEqual(r3, { claimed: true, v4: "203.0.113.6/24", v6: "2001:db8:17::6/64" });
  });

  it("concurrent claims never share an address; every record holds its own", async () => {
    const { s } = etcd.open();
    const n = network();
    const names = Array.from({ length: 20 }, (_, i) => `p${i}`);
    const got = await Promise.all(names.map((m) => claimEndpoint(s, n, m, m, {}, value(m))));
    const v4 = got.map((g) => (g.claimed ? g.v4 : ""));
    assert.equal(new Set(v4).size, 20);
    assert.ok(v4.every((a) => a.startsWith("203.0.113.")));
    assert.equal((await s.reserved(n)).length, 40);
    for (const [i, m] of names.entries()) {
      assert.equal(await s.holder(n, v4[i].split("/")[0]), m);
    }
  });

  it("a taken name leaves nothing and its addresses stay free; a taken static address names its holder", async () => {
    const { kv, s } = etcd.open();
    const n = network();
    assert.equal((await claimEndpoint(s, n, "c1", "c1", {}, value("c1"))).claimed, true);
    const again = await claimEndpoint(s, n, "c1", "c1", {}, value("c1"));
    assert.deepEqual(again, { claimed: false, endpointExists: true });
    assert.deepEqual((await s.reserved(n)).sort(), ["2001:db8:17::2", "203.0.113.2"]);
    // The addresses the failed claim chose are handed out next.
    const r2 = await claimEndpoint(s, n, "c2", "c2", {}, value("c2"));
    assert.deepEqual(r2, { claimed: true, v4: "203.0.113.3/24", v6: "2001:db8:17::3/64" });
    await assert.rejects(
      claimEndpoint(s, n, "c3", "c3", { address: "203.0.113.2" }, value("c3")),
      /Address "203\.0\.113\.2" in network "ovc\d+x\d+" is already allocated to "c1"/,
    );
    assert.equal(await kv.get(`${overlayKeys(n.name).endpoints}c3`), undefined);
    const r4 = await claimEndpoint(s, n, "c4", "c4", { address: "203.0.113.9" }, value("c4"));
    assert.deepEqual(r4, { claimed: true, v4: "203.0.113.9/24", v6: "2001:db8:17::4/64" });
  });
});
