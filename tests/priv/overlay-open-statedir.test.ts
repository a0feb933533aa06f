/**
 * `openNetwork(name, { store, advertise, stateDir })` of an overlay network keeps the host's
 * records in the given state directory, as `newNetwork` does: it used to drop `stateDir` and
 * write the host's record into the default one (found by the overlay bench, whose sandbox was
 * left with a /run/nslink holding the network).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { exec, isRoot, runId, SKIP_ROOT } from "./_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";
import { cmd, Host, plug, removeHostState } from "./_overlay_cluster.ts";
import { removeStateDir } from "./_agent_helpers.ts";

const P = runId();
const MGMT = `${P}m`;
const h = { ns: `${P}h1`, v4: "198.51.100.11" };
const DIR = `/run/nslink-${P}-explicit`;
let etcd: EtcdCluster | undefined;
const running: Host[] = [];

before(async () => {
  if (!isRoot) return;
  await cmd(["ip", "link", "add", MGMT, "type", "bridge"]);
  await cmd(["ip", "link", "set", MGMT, "up"]);
  await cmd(["ip", "addr", "add", "198.51.100.1/24", "dev", MGMT]);
  await cmd(["ip", "netns", "add", h.ns]);
  await cmd(["ip", "-n", h.ns, "link", "set", "lo", "up"]);
  await plug(MGMT, `${P}m1`, h.ns, "m0");
  await cmd(["ip", "-n", h.ns, "addr", "add", `${h.v4}/24`, "dev", "m0"]);
  etcd = await startEtcd(["198.51.100.1"]);
});

after(async () => {
  if (!isRoot) return;
  for (const x of running) await x.stop();
  removeHostState(h.ns);
  removeStateDir(DIR);
  rmSync(DIR, { recursive: true, force: true });
  await etcd?.stop();
  for (const name of readdirSync("/run/netns").filter((n) => n.startsWith(P))) {
    await exec(["ip", "netns", "del", name]);
  }
  await exec(["ip", "link", "del", MGMT]);
});

describe("overlay: openNetwork with stateDir", { skip: SKIP_ROOT, timeout: 90_000 }, () => {
  it("keeps the host's record in the given state directory, not the default one", async () => {
    const name = `${P}-sd`;
    const options = {
      subnet: "203.0.113.128/26",
      store: etcd!.url,
      advertise: h.v4,
      stateDir: DIR,
    };
    const a = new Host(h.ns, h.v4);
    await a.start();
    running.push(a);
    await a.call("new", { name, options });
    await a.call("close", { name });
    // Another process of the host opens it (the default state directory of these host
    // processes is /run/nslink-host-INODE: it must stay without the network).
    const b = new Host(h.ns, h.v4);
    await b.start();
    running.push(b);
    await b.call("open", { name, options });
    await b.call("link", { name, endpoints: [`${P}e1`] });
    const ino = statSync(`/run/netns/${h.ns}`).ino;
    assert.ok(existsSync(`${DIR}/networks/${name}.json`), "the record is in the given directory");
    assert.equal(
      existsSync(`/run/nslink-host-${ino}/networks/${name}.json`),
      false,
      "no record in the default state directory",
    );
    await b.call("delete", { name });
  });
});
