/**
 * Overlay address claims that no endpoint record explains (an unlink killed between removing its
 * record and releasing its addresses, on any host): `gc()` on any host of the network releases
 * them, and never a claim of a live endpoint. Two hosts as namespaces, one etcd.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import type { Interface } from "../../mod.ts";
import { EtcdClient } from "../../store/etcd.ts";
import { exec, isRoot, runId, SKIP_ROOT } from "./_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";
import { bare, cmd, Host, plug, removeHostState } from "./_overlay_cluster.ts";

const P = runId();
const MGMT = `${P}m`;
const hosts = [1, 2].map((n) => ({ n, ns: `${P}h${n}`, v4: `198.51.100.${10 + n}` }));
let etcd: EtcdCluster | undefined;
const running: Host[] = [];

async function host(i: number): Promise<Host> {
  const h = new Host(hosts[i].ns, hosts[i].v4);
  await h.start();
  running.push(h);
  return h;
}

async function link(h: Host, network: string, eps: string[], address?: string) {
  const r = await h.call("link", {
    name: network,
    endpoints: eps,
    ...(address ? { address } : {}),
  });
  return r.interfaces as Record<string, Interface>;
}

before(async () => {
  if (!isRoot) return;
  await cmd(["ip", "link", "add", MGMT, "type", "bridge"]);
  await cmd(["ip", "link", "set", MGMT, "up"]);
  await cmd(["ip", "addr", "add", "198.51.100.1/24", "dev", MGMT]);
  for (const h of hosts) {
    await cmd(["ip", "netns", "add", h.ns]);
    await cmd(["ip", "-n", h.ns, "link", "set", "lo", "up"]);
    await plug(MGMT, `${P}m${h.n}`, h.ns, "m0");
    await cmd(["ip", "-n", h.ns, "addr", "add", `${h.v4}/24`, "dev", "m0"]);
  }
  etcd = await startEtcd(["198.51.100.1"]);
});

after(async () => {
  if (!isRoot) return;
  for (const h of running) await h.stop();
  for (const h of hosts) removeHostState(h.ns);
  await etcd?.stop();
  for (const name of readdirSync("/run/netns").filter((n) => n.startsWith(P))) {
    await exec(["ip", "netns", "del", name]);
  }
  await exec(["ip", "link", "del", MGMT]);
});

describe("overlay claims no endpoint record explains", { skip: SKIP_ROOT, timeout: 90_000 }, () => {
  it("an unlink killed between removing its record and releasing its addresses: gc on any host releases the claims no record explains", async () => {
    const name = `${P}-or`;
    const h1 = await host(0);
    const h2 = await host(1);
    const opts = (i: number) => ({
      subnet: "203.0.113.128/26",
      store: etcd!.url,
      advertise: hosts[i].v4,
      ttl: 2,
    });
    await h1.call("new", { name, options: opts(0) });
    await h2.call("new", { name, options: opts(1) });
    const live = (await link(h1, name, [`${P}orl`]))[`${P}orl`];
    const client = new EtcdClient(etcd!.url);
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
    const again = (await link(h2, name, [`${P}orn`], "203.0.113.190"))[`${P}orn`];
    assert.equal(bare(again.address), "203.0.113.190");
    await h2.call("delete", { name });
    await h1.call("delete", { name });
  });
});
