/**
 * A deleted overlay network's VNI is handed to the next network (the lowest free one), which
 * gets the same device names (`nslov<VNI>`, `nslvx<VNI>`). A watcher of the deleted network that
 * still runs in another process of the host (an application's `watch()`, which the process that
 * deleted the network cannot stop) must never touch the new network's FDB and neighbour entries.
 * Two hosts as namespaces, one etcd.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { isRoot, runId, SKIP_ROOT, sleep } from "./_helpers.ts";
import { EtcdClient } from "../../store/etcd.ts";
import { etcdHosts, fdb, until } from "./_overlay_cluster.ts";

const P = runId();
const cluster = etcdHosts(P, 2);
const { hosts } = cluster;
const host = (i: number) => cluster.host(i);
const GHOST = "02:00:5e:10:00:09";

const options = (i: number, subnet: string) => ({
  subnet,
  store: cluster.url(),
  advertise: hosts[i].v4,
  ttl: 2,
});

before(async () => {
  if (isRoot) await cluster.setUp();
});

after(async () => {
  if (isRoot) await cluster.tearDown();
});

const OPTS = { skip: SKIP_ROOT, timeout: 90_000 };

describe("a deleted overlay network's VNI used again", OPTS, () => {
  it(
    "a watcher of the deleted network in another process leaves the next network's entries (same VNI, same device names) alone",
    OPTS,
    async () => {
      const a = `${P}-a`;
      const b = `${P}-b`;
      const h1a = await host(0); // watches network a, and outlives its deletion
      const h1b = await host(0); // another process of host 1: deletes a, makes b
      const h2 = await host(1);
      const vni = (await h1a.call("new", { name: a, options: options(0, "203.0.113.0/26") }))
        .vni as number;
      await h2.call("new", { name: a, options: options(1, "203.0.113.0/26") });
      await h1a.call("watch", { name: a });
      // No keepalive of h1a registers host 1 again; its watcher keeps running.
      await h1a.call("close", { name: a });
      await h1b.call("open", { name: a });
      await h1b.call("delete", { name: a });
      await h2.call("delete", { name: a });
      // The next network gets the same VNI, so the same device names on both hosts.
      const vniB = (await h1b.call("new", { name: b, options: options(0, "203.0.113.64/26") }))
        .vni as number;
      assert.equal(vniB, vni, "the VNI is used again");
      await h2.call("new", { name: b, options: options(1, "203.0.113.64/26") });
      await h1b.call("watch", { name: b });
      await h2.call("link", { name: b, endpoints: [`${P}b2`] });
      const remote = async () => (await fdb(hosts[0].ns, vni)).some((e) => e.dst === hosts[1].v4);
      await until("host 1's entry for host 2's endpoint", remote, 15_000);
      // The stale watcher retries (its device went away) with a growing back-off (0.25 s, 0.5 s,
      // 1 s, 2 s, …): a reload once the new device is there removed every entry it did not know.
      for (let t = 0; t < 12; t++) {
        assert.ok(
          await remote(),
          `host 1's entry for host 2's endpoint is still there (${t / 2} s)`,
        );
        await sleep(500);
      }
      // What the deleted network's watcher follows comes back (a late registration of host 2
      // and an endpoint record under the old name): nothing of it reaches the new device.
      const client = new EtcdClient(cluster.url());
      await client.put(`/nslink/ov/${a}/hosts/${hosts[1].v4}`, "{}");
      await client.put(
        `/nslink/ov/${a}/endpoints/${P}ghost`,
        JSON.stringify({ host: hosts[1].v4, mac: GHOST, address: "203.0.113.9/26" }),
      );
      const ghost = async () => (await fdb(hosts[0].ns, vni)).some((e) => e.mac === GHOST);
      await until("the ghost entry", ghost, 3000).then(
        () => assert.fail("an entry of the deleted network was installed on the new one's device"),
        () => {},
      );
      assert.ok(await remote(), "host 1's entry for host 2's endpoint is still there");
      await client.delete(`/nslink/ov/${a}/`, { prefix: true });
      await h2.call("delete", { name: b });
      await h1b.call("delete", { name: b });
    },
  );
});
