/**
 * Privileged tests of the CNI plugin beside other operations: STATUS answers while another
 * process holds the state lock (it never waits: a failed STATUS marks the node NotReady), and an
 * ADD racing the DEL of the network's last attachment (which deletes the network ADD made)
 * succeeds, on the network made again. Subnet 198.51.100.0/24; checked with `ip -j`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { captureOutput } from "../../cli/io.ts";
import { nslinkPlugin } from "../../cni/plugin.ts";
import { runCni } from "../../cni/skel.ts";
import { StateStore } from "../../network/state.ts";
import { ip, ipLink, ipNetnsNames, isRoot, runId, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { removeStateDirs, stateFiles, tempStateDir } from "./_network_helpers.ts";
import { cni } from "./_cli_helpers.ts";
import { addNetns } from "./_cni_setup.ts";

const P = runId();
const OPTS = { skip: SKIP_ROOT, timeout: 120_000 };

after(async () => {
  removeStateDirs();
  if (isRoot) assert.deepEqual((await ipNetnsNames()).filter((n) => n.startsWith(P)), []);
});

function conf(network: string, cniVersion = "1.0.0") {
  return { cniVersion, name: network, type: "nslink", subnet: "198.51.100.0/24" };
}

/** One CNI call in this process (the plugin's own code, as the executable runs it). */
async function call(
  command: string,
  network: string,
  env: { containerId: string; netns: string; stateDir: string },
): Promise<{ status: number; out: string }> {
  const io = captureOutput();
  const status = await runCni(
    {
      CNI_COMMAND: command,
      CNI_CONTAINERID: env.containerId,
      CNI_NETNS: env.netns,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
      NSLINK_STATE_DIR: env.stateDir,
    },
    () => JSON.stringify(conf(network)),
    io,
    nslinkPlugin,
  );
  return { status, out: io.stdout };
}

describe("CNI plugin beside other operations", () => {
  it("STATUS succeeds while another process holds the state lock exclusively", OPTS, async () => {
    const stateDir = tempStateDir();
    const lock = await new StateStore(stateDir).lock();
    try {
      const r = await cni("STATUS", conf(`${P}s`, "1.1.0"), { stateDir });
      assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
      assert.equal(r.stdout, "");
    } finally {
      lock.release();
    }
  });

  it("an ADD racing the DEL of the network's last attachment succeeds", OPTS, async () => {
    const stateDir = tempStateDir();
    const net = `${P}r`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const a = { containerId: `${P}first`, netns: await addNetns(c, `${P}ra`), stateDir };
      const b = { containerId: `${P}second`, netns: await addNetns(c, `${P}rb`), stateDir };
      for (let i = 0; i < 25; i++) {
        const first = await call("ADD", net, a);
        assert.equal(first.status, 0, first.out);
        // DEL of the last attachment deletes the network ADD made; the ADD beside it must
        // land on the network made again, whatever the order.
        const [del, add] = await Promise.all([call("DEL", net, a), call("ADD", net, b)]);
        assert.equal(del.status, 0, `round ${i}: DEL ${del.out}`);
        assert.equal(add.status, 0, `round ${i}: ADD ${add.out}`);
        assert.ok(await ipLink(`nsl-${net}`), `round ${i}: the network's bridge is gone`);
        const inside = await ip(["-n", `${P}rb`, "-j", "addr", "show", "dev", "eth0"]);
        assert.equal(inside.code, 0, `round ${i}: ${inside.stderr}`);
        assert.equal((await call("DEL", net, b)).status, 0);
      }
      assert.equal(await ipLink(`nsl-${net}`), undefined);
      assert.deepEqual(stateFiles(stateDir), []);
    });
  });
});
