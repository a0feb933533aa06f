/**
 * `openNetwork(name, { store, advertise, stateDir })` of an overlay network keeps the host's
 * records in the given state directory, as `newNetwork` does: it used to drop `stateDir` and
 * write the host's record into the default one (found by the overlay bench, whose sandbox was
 * left with a /run/nslink holding the network).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { isRoot, runId, SKIP_ROOT } from "./_helpers.ts";
import { etcdHosts } from "./_overlay_cluster.ts";
import { removeStateDir } from "./_agent_helpers.ts";

const P = runId();
const cluster = etcdHosts(P, 1);
const [h] = cluster.hosts;
const DIR = `/run/nslink-${P}-explicit`;

before(async () => {
  if (isRoot) await cluster.setUp();
});

after(async () => {
  if (!isRoot) return;
  await cluster.tearDown();
  removeStateDir(DIR);
});

describe("overlay: openNetwork with stateDir", { skip: SKIP_ROOT, timeout: 90_000 }, () => {
  it("keeps the host's record in the given state directory, not the default one", async () => {
    const name = `${P}-sd`;
    const options = {
      subnet: "203.0.113.128/26",
      store: cluster.url(),
      advertise: h.v4,
      stateDir: DIR,
    };
    const a = await cluster.host(0);
    await a.call("new", { name, options });
    await a.call("close", { name });
    // Another process of the host opens it (the default state directory of these host
    // processes is /run/nslink-host-INODE: it must stay without the network).
    const b = await cluster.host(0);
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
