/**
 * Unit tests (no root) of what the CNI exec sends to the host agent (`cni/handoff.ts`): which
 * calls are handed off, to which state directory's agent, with which variables. The hand-off
 * itself is tested against a running agent in tests/priv/cni-handoff.test.ts.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { cniRequest, handOff, requestStateDir } from "../../cni/handoff.ts";

const CONF = JSON.stringify({ cniVersion: "1.0.0", name: "n1", type: "nslink" });
const ENV = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "c1",
  CNI_NETNS: "/run/netns/c1",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/usr/lib/cni",
  PATH: "/usr/bin",
  HOME: "/root",
};

describe("the CNI exec's request to the host agent", () => {
  it("goes to the configuration's stateDir, else $NSLINK_STATE_DIR, else /run/nslink", () => {
    assert.equal(requestStateDir({}, CONF), "/run/nslink");
    assert.equal(requestStateDir({ NSLINK_STATE_DIR: "/run/x/" }, CONF), "/run/x");
    const own = JSON.stringify({ ...JSON.parse(CONF), stateDir: "/run/y" });
    assert.equal(requestStateDir({ NSLINK_STATE_DIR: "/run/x" }, own), "/run/y");
  });

  it("is not made where the exec must answer itself", () => {
    assert.equal(cniRequest({ ...ENV, CNI_COMMAND: "VERSION" }, CONF), undefined);
    assert.equal(cniRequest({ ...ENV, CNI_COMMAND: "FOO" }, CONF), undefined);
    assert.equal(cniRequest({ ...ENV, NSLINK_AGENT: "off" }, CONF), undefined);
    assert.equal(cniRequest(ENV, "{not json"), undefined);
    assert.equal(cniRequest(ENV, "[]"), undefined);
    assert.equal(cniRequest({ ...ENV, NSLINK_STATE_DIR: "run/rel" }, CONF), undefined);
    assert.equal(cniRequest({ ...ENV, NSLINK_STATE_DIR: "/run/../etc" }, CONF), undefined);
    const badDir = JSON.stringify({ ...JSON.parse(CONF), stateDir: 7 });
    assert.equal(cniRequest(ENV, badDir), undefined);
  });

  it("carries CNI_* and nslink's variables only, and the time it may be accepted until", () => {
    const r = cniRequest({ ...ENV, NSLINK_CONFIG_DIR: "/tmp/c" }, CONF, 1000);
    assert.deepEqual(r, {
      op: "cni",
      stateDir: "/run/nslink",
      env: {
        CNI_COMMAND: "ADD",
        CNI_CONTAINERID: "c1",
        CNI_NETNS: "/run/netns/c1",
        CNI_IFNAME: "eth0",
        CNI_PATH: "/usr/lib/cni",
        NSLINK_CONFIG_DIR: "/tmp/c",
      },
      stdin: CONF,
      acceptBy: 5000,
    });
  });

  it("answers undefined (the exec works itself) when no agent listens", async () => {
    const dir = `/nonexistent-nslink-${Date.now()}`;
    assert.equal(await handOff({ ...ENV, NSLINK_STATE_DIR: dir }, CONF), undefined);
  });
});
