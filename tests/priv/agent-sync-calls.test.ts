/**
 * Privileged tests of the host agent's syncs around the CNI requests handed to it: a request
 * on an existing network (ADD, DEL of a container) changes no network, so the agent does not
 * sync its duties after it (names are read at each query, the firewall repair follows nf_tables
 * events, the timer catches other processes' changes). Counted by the agent itself (`status`
 * replies `syncs` by what asked for them): a count, not a time.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir, waitFor } from "./_network_helpers.ts";
import { nslinkArgv, runProcess } from "./_cli_helpers.ts";
import { addNetns, cniConf as conf } from "./_cni_setup.ts";
import { killAgents } from "./_agent_helpers.ts";
import { askAgent } from "../../agent/client.ts";

const { prefix: P } = setUpNetworkTestFile();

/** One exec of the plugin. */
async function exec(
  command: string,
  net: string,
  containerId: string,
  netns: string,
  state: string,
) {
  const r = await runProcess(nslinkArgv(), {
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: netns,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
      NSLINK_STATE_DIR: state,
    },
    input: JSON.stringify(conf(net)),
  });
  assert.equal(r.code, 0, `${command} ${containerId}: ${r.stdout}${r.stderr}`);
}

interface Status {
  exiting?: boolean;
  requests?: Record<string, number>;
  syncs?: Record<string, number>;
}

async function status(state: string): Promise<Status> {
  return await askAgent(state, "status", 5000) as Status;
}

describe("the host agent's syncs after handed-off CNI requests", { skip: SKIP_ROOT }, () => {
  it("ADD and DEL on an existing network: no sync of the duties after the requests", {
    timeout: 120_000,
  }, async () => {
    const state = tempStateDir();
    const net = `${P}s`;
    try {
      await withCleanup(async (c) => {
        c.link(`nsl-${net}`);
        const keep = await addNetns(c, `${P}s0`);
        const others = [await addNetns(c, `${P}s1`), await addNetns(c, `${P}s2`)];
        // The first ADD creates the network, which starts the agent.
        await exec("ADD", net, `${P}keep`, keep, state);
        assert.ok(
          await waitFor(async () => {
            try {
              return (await status(state)).exiting === false;
            } catch {
              return false;
            }
          }, 10_000),
          "no agent",
        );
        const before = await status(state);
        assert.ok(before.syncs, "the agent's status does not count its syncs");
        for (const [i, netns] of others.entries()) {
          await exec("ADD", net, `${P}c${i}`, netns, state);
        }
        for (const [i, netns] of others.entries()) {
          await exec("DEL", net, `${P}c${i}`, netns, state);
        }
        // Whatever runs after the last answer (the agent's event loop) has run by then.
        await new Promise((r) => setTimeout(r, 300));
        const after = await status(state);
        assert.equal(
          (after.requests?.cni ?? 0) - (before.requests?.cni ?? 0),
          2 * others.length,
          "not handed off",
        );
        const ran = (k: string) => (after.syncs?.[k] ?? 0) - (before.syncs?.[k] ?? 0);
        assert.deepEqual(
          { request: ran("request"), library: ran("library"), duty: ran("duty") },
          { request: 0, library: 0, duty: 0 },
        );
        await exec("DEL", net, `${P}keep`, keep, state);
      });
    } finally {
      killAgents(state);
    }
  });
});
