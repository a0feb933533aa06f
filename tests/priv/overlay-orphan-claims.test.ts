/**
 * Overlay address claims that no endpoint record explains (an unlink killed between removing its
 * record and releasing its addresses, on any host): `gc()` on any host of the network releases
 * them, and never a claim of a live endpoint. Two hosts as namespaces, one etcd.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EtcdClient } from "../../store/etcd.ts";
import { isRoot, runId, SKIP_ROOT } from "./_helpers.ts";
import { bare, etcdHosts } from "./_overlay_cluster.ts";

const P = runId();
const cluster = etcdHosts(P, 2);
const { hosts } = cluster;
const host = (i: number) => cluster.host(i);

before(async () => {
  if (isRoot) await cluster.setUp();
});

after(async () => {
  if (isRoot) await cluster.tearDown();
});

describe("overlay claims no endpoint record explains", { skip: SKIP_ROOT, timeout: 90_000 }, () => {
  it("an unlink killed between removing its record and releasing its addresses: gc on any host releases the claims no record explains", async () => {
    const name = `${P}-or`;
    const h1 = await host(0);
    const h2 = await host(1);
    const opts = (i: number) => ({
      subnet: "203.0.113.128/26",
      store: cluster.url(),
      advertise: hosts[i].v4,
      ttl: 2,
    });
    await h1.call("new", { name, options: opts(0) });
    await h2.call("new", { name, options: opts(1) });
    const live = (await h1.link(name, [`${P}orl`]))[`${P}orl`];
    const client = new EtcdClient(cluster.url());
    const ipam4 = `/nslink/ov/${name}/ipam/4/`;
    // What such an unlink leaves: a claim naming an endpoint with no record, and one naming a
    // live endpoint (the name linked again since) at another address.
    await client.put(`${ipam4}203.0.113.190`, `${P}gone`);
    await client.put(`${ipam4}203.0.113.189`, `${P}orl`);
    await h2.call("gc");
    assert.equal(await client.get(`${ipam4}203.0.113.190`), undefined);
    assert.equal(await client.get(`${ipam4}203.0.113.189`), undefined);
    // The live endpoint keeps its record and its claim.
    assert.equal((await client.get(`${ipam4}${bare(live.address)}`))?.value, `${P}orl`);
    assert.ok(await client.get(`/nslink/ov/${name}/endpoints/${P}orl`));
    // The address is handed out again.
    const again = (await h2.link(name, [`${P}orn`], "203.0.113.190"))[`${P}orn`];
    assert.equal(bare(again.address), "203.0.113.190");
    await h2.call("delete", { name });
    await h1.call("delete", { name });
  });
});
