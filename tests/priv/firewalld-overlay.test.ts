/**
 * Overlay bridges go in firewalld's `nslink` zone as bridge networks' do: with Debian's
 * firewalld and its own dbus-daemon inside the throw-away namespace (`_firewalld.ts`) and a
 * one-member etcd there (`_etcd.ts`), an overlay network's `nslov<VNI>` bridge is in the zone at
 * runtime and permanently (checked with `firewall-cmd`), stays there across
 * `firewall-cmd --reload`, and leaves it when the network is deleted.
 *
 * Run through `scripts/in-netns.sh` only. Skips when firewalld or dbus is not installed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { newNetwork, type OverlayNetwork } from "../../mod.ts";
import { agentOffForTests } from "./_agent_helpers.ts";
import { ip, isRoot, runId, SKIP_ROOT } from "./_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";
import {
  firewallCmd,
  type SandboxFirewalld,
  SKIP_FIREWALLD,
  startFirewalld,
  zoneOf,
} from "./_firewalld.ts";
import { removeStateDirs, tempStateDir } from "./_network_helpers.ts";

const P = runId();
const SKIP = SKIP_ROOT || SKIP_FIREWALLD;
const UNDERLAY = `${P}u`;
const ADVERTISE = "198.51.100.1";
let fw: SandboxFirewalld | undefined;
let etcd: EtcdCluster | undefined;
// This file looks at firewalld only: no host agent.
let agentBack = () => {};

before(async () => {
  agentBack = agentOffForTests();
  if (SKIP) return;
  assert.equal((await ip(["link", "add", UNDERLAY, "type", "bridge"])).code, 0);
  assert.equal((await ip(["link", "set", UNDERLAY, "up"])).code, 0);
  assert.equal((await ip(["addr", "add", `${ADVERTISE}/24`, "dev", UNDERLAY])).code, 0);
  etcd = await startEtcd([ADVERTISE]);
  fw = await startFirewalld();
});

after(async () => {
  agentBack();
  try {
    await fw?.stop();
    await etcd?.stop();
  } finally {
    if (isRoot && !SKIP) await ip(["link", "del", UNDERLAY]);
    removeStateDirs();
  }
});

describe("firewalld and overlay networks", { skip: SKIP }, () => {
  it(
    "the nslov<VNI> bridge is in zone nslink at runtime and permanently, across --reload, and leaves it on delete",
    {
      timeout: 120_000,
    },
    async () => {
      const net = await newNetwork("overlay", `${P}ov`, {
        subnet: "203.0.113.80/28",
        store: etcd!.url,
        advertise: ADVERTISE,
        stateDir: tempStateDir(),
      }) as OverlayNetwork;
      const bridge = net.devices.bridge;
      try {
        assert.match(bridge, /^nslov\d+$/);
        assert.equal(await zoneOf(bridge), "nslink", "runtime");
        assert.equal(await zoneOf(bridge, true), "nslink", "permanent");
        await firewallCmd(fw!, "--reload");
        assert.equal(await zoneOf(bridge), "nslink", "after --reload");
      } finally {
        await net.delete();
      }
      assert.equal(await zoneOf(bridge), "", "runtime binding removed");
      assert.equal(await zoneOf(bridge, true), "", "permanent binding removed");
    },
  );
});
